//! The training service over real gRPC and real databases, beside the real personnel service
//! whose feed it follows.

mod certificates;
mod credentials;
mod curriculum;
mod helpers;
mod mentoring;
mod plans;
