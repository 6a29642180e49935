//! Japanese address geocoding against the Address Base Registry (ABR).
