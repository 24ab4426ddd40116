//! The Twilio emulator (being written).
