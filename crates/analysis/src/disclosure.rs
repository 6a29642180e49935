//! What an aggregate of people discloses: who is counted in which cell.
//!
//! Every aggregate over people records, per person counted, their group and
//! the sets (one or two per measure) that hold them. The analysis floor only
//! records this; the policy floor perturbs what roles below exact
//! aggregates see, from the people in each cell.

/// What a measure publishes, as counts of sets of people. Set `s` is bit
/// `s` of a record's membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeasureKind {
    /// The number of the group's people in a set (a `count`, or the `sum`
    /// of a flag: a sum of ones is a count).
    Count { set: u8 },
    /// The number in set `num` over the number in set `den`, or over the
    /// whole group when `den` is `None` (a `share`, or the `mean` of a flag).
    Ratio { num: u8, den: Option<u8> },
    /// A sum or mean of an attribute that is not a flag (a magnitude).
    Magnitude,
}

/// One aggregate over people: who is counted where.
#[derive(Debug, Clone)]
pub struct Table {
    /// The layer the people come from: their record keys are looked up there.
    pub population: String,
    pub measures: Vec<MeasureKind>,
    pub groups: usize,
    /// Per person counted: their id in the population (never a pseudonym),
    /// their group, and a bit per set that holds them.
    pub records: Vec<(i64, u32, u64)>,
}

impl Table {
    /// The greatest number of measures an aggregate of people may have: each
    /// uses up to two of the 64 set bits.
    pub const MAX_MEASURES: usize = 32;
}
