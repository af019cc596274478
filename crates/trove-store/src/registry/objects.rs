//! Placeholder: this part of the registry is being written.
