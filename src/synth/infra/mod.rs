//! Synthetic infrastructure of the demo city: flood depth ranks, water pipes
//! with break history, bridges, roads with crack detections.
