//! Values shared by the stages: label sets (always sorted) and sealed blocks.

pub mod block;
pub mod labels;

pub use block::{DropReason, SealedBlock};
pub use labels::{Label, Labels};
