//! AWS keys: the rules of key specs and inputs.

pub mod rules;
pub mod spec;
