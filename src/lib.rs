#![doc = include_str!("../README.md")]

pub use switchboard_core as core;
pub use switchboard_core::*;

pub mod store;
