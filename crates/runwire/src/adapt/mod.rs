//! Adapters from the producers' output types to what the fingerprint engine takes, one
//! module per producer. The server already speaks the shared vocabulary (`runwire-model`), so
//! its module only decides what binds; the tracer's is a 1:1 mapping to the engine's model.

pub mod report;
pub mod trace;
