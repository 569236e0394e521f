//! Exposition formats, parsed by pure iterators over borrowed entries.
//! (in progress)
pub mod text;
