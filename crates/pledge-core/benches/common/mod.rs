//! Shared by the benchmarks.
#![allow(dead_code)]

pub mod generate;
