//! The kinds of Aureus event.

use std::fmt;
use std::str::FromStr;

/// The kinds of Aureus event in the contract (the `event_type` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// A task step starts.
    StepStart,
    /// A task step ends (successfully or not).
    StepEnd,
    /// A task calls a tool.
    ToolCall,
    /// A CRV gate was checked.
    CrvResult,
    /// A policy was checked.
    PolicyCheck,
    /// A snapshot was committed.
    SnapshotCommit,
    /// State was rolled back to a snapshot.
    Rollback,
    /// A prompt was sent to an LLM.
    LlmPrompt,
    /// An LLM answered.
    LlmResponse,
    /// An LLM produced an artifact.
    LlmArtifactGenerated,
    /// Anything else the kernel wants to record.
    Custom,
}

impl EventKind {
    /// Every kind, in contract order.
    pub const ALL: [EventKind; 11] = [
        EventKind::StepStart,
        EventKind::StepEnd,
        EventKind::ToolCall,
        EventKind::CrvResult,
        EventKind::PolicyCheck,
        EventKind::SnapshotCommit,
        EventKind::Rollback,
        EventKind::LlmPrompt,
        EventKind::LlmResponse,
        EventKind::LlmArtifactGenerated,
        EventKind::Custom,
    ];

    /// The `event_type` value of this kind.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::StepStart => "step_start",
            EventKind::StepEnd => "step_end",
            EventKind::ToolCall => "tool_call",
            EventKind::CrvResult => "crv_result",
            EventKind::PolicyCheck => "policy_check",
            EventKind::SnapshotCommit => "snapshot_commit",
            EventKind::Rollback => "rollback",
            EventKind::LlmPrompt => "llm_prompt",
            EventKind::LlmResponse => "llm_response",
            EventKind::LlmArtifactGenerated => "llm_artifact_generated",
            EventKind::Custom => "custom",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Returned when a string names no [`EventKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event type {0:?}")]
pub struct UnknownEventKind(pub String);

impl FromStr for EventKind {
    type Err = UnknownEventKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UnknownEventKind(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_kind() {
        for kind in EventKind::ALL {
            assert_eq!(kind.as_str().parse::<EventKind>(), Ok(kind));
        }
        assert!("nope".parse::<EventKind>().is_err());
    }
}
