//! The one integration test binary.

#![forbid(unsafe_code)]

mod analysis;
mod cli;
mod conformance;
mod eval;
mod fuzz_replay;
mod goals;
mod governance;
mod governed;
mod guests;
mod llm;
mod loopback;
mod meta_plan;
mod planner;
mod reader;
mod sandbox;
mod security;
mod sharing;
mod store;
mod support;
mod synth;
