//! The durable job queue (filled in below).
