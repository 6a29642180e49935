//! What an aggregate of people discloses: who is counted in which cell.
//!
//! Every aggregate over people records, per person counted, their group and
//! the measures whose sets hold them. The analysis floor only records this;
//! the policy floor decides from it which cells a role may see.

/// What a measure publishes. Each is protected as the number of people in
/// its set: a share gives it away with the group's size, a sum of ones is it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeasureKind {
    /// The number of the group's people in the measure's set.
    Count,
    /// That number over the group's size.
    Share,
    /// A sum or mean of an attribute over the set.
    Dependent,
}

/// One aggregate over people: who is counted where.
#[derive(Debug, Clone)]
pub struct Table {
    pub id: String,
    /// The layer the people come from: tables over the same population are
    /// checked against each other.
    pub population: String,
    pub measures: Vec<MeasureKind>,
    pub groups: usize,
    /// Whether the groups' sizes are public: the source is the whole
    /// population, whose counts per mesh cell or 町丁目 the census prints.
    /// A filtered source (65+ only) has private group sizes.
    pub size_public: bool,
    /// Per person counted: their id in the population, their group, and a
    /// bit per measure whose set holds them.
    pub records: Vec<(i64, u32, u64)>,
}
