//! Adapters from the producers' output types to the fingerprint engine's input model, one
//! module per producer, so a new protocol version or tracer is a new converter here.

pub mod declarations;
pub mod trace;
