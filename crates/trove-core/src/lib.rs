//! Domain types shared by every Trove crate: typed ids, roles, errors. No I/O.
