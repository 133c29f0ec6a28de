//! The rules of incident warnings, without I/O: colours and their deadlines, the lifecycle, the
//! province's policy.

pub mod policy;

pub use policy::Policy;
