//! A local Slack (in progress).
