//! The conformance kit run against the reference MemoryAdapter.
#![cfg(feature = "testkit")]

use switchboard_core::testkit::MemoryHarness;

switchboard_core::conformance_tests!(MemoryHarness: Reconcile, SignedTimestamp, Handshake, UnsupportedOperations);
