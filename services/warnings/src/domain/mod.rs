//! The rules of incident warnings, without I/O: colours and their deadlines, the lifecycle, the
//! province's policy, the source departments.

pub mod brain;
pub mod cap;
pub mod department;
pub mod policy;
pub mod warning;
pub mod webhook;

pub use department::Department;
pub use policy::Policy;
pub use warning::{
    Action, Colour, Deadline, DeadlineKind, HistoryEntry, NewWarning, Source, State, Warning,
};
