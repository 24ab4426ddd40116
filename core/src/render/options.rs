//! Buttons and quick replies rendered as numbered text options, and matching the answers.

use serde::{Deserialize, Serialize};

use crate::capabilities::MarkdownDialect;
use crate::model::ActionSource;

/// One choice rendered as text: the recipient answers with its number or its label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextOption {
    /// 1-based number shown to the recipient.
    pub number: usize,
    /// The label shown.
    pub label: String,
    /// The payload that comes back to the application when chosen.
    pub payload: String,
    /// Whether it was a button or a quick reply.
    pub source: ActionSource,
}

/// The options block: `1. Yes  2. No` and a line telling how to answer.
pub fn options_block(options: &[TextOption], dialect: MarkdownDialect) -> String {
    let list = options
        .iter()
        .map(|o| {
            format!(
                "{}. {}",
                o.number,
                super::markdown::escape(&o.label, dialect)
            )
        })
        .collect::<Vec<_>>()
        .join("  ");
    format!("{list}\nReply with the number of your choice.")
}

/// The option a text reply chooses: its number (`2`, `2.`, `2)`, `#2`) or its label
/// (case-insensitive, surrounding spaces and a trailing `.`/`!` ignored).
pub fn match_option<'a>(reply: &str, options: &'a [TextOption]) -> Option<&'a TextOption> {
    let reply = reply.trim();
    let number = reply
        .trim_start_matches('#')
        .trim_end_matches(['.', ')'])
        .trim();
    if let Ok(n) = number.parse::<usize>() {
        return options.iter().find(|o| o.number == n);
    }
    let label = reply.trim_end_matches(['.', '!']).trim();
    options.iter().find(|o| {
        o.label.trim().eq_ignore_ascii_case(label)
            || o.label.trim().to_lowercase() == label.to_lowercase()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> Vec<TextOption> {
        ["Yes", "No", "Talk to a human"]
            .iter()
            .enumerate()
            .map(|(i, l)| TextOption {
                number: i + 1,
                label: (*l).to_owned(),
                payload: format!("P{}", i + 1),
                source: ActionSource::Button,
            })
            .collect()
    }

    #[test]
    fn block_lists_options_and_says_how_to_answer() {
        assert_eq!(
            options_block(&opts()[..2], MarkdownDialect::Plain),
            "1. Yes  2. No\nReply with the number of your choice."
        );
    }

    #[test]
    fn replies_match_by_number_or_label() {
        let o = opts();
        for reply in ["2", " 2. ", "2)", "#2", "no", "NO!", "No."] {
            assert_eq!(
                match_option(reply, &o).map(|o| o.payload.as_str()),
                Some("P2"),
                "{reply}"
            );
        }
        assert_eq!(
            match_option("talk to a HUMAN", &o).map(|o| o.number),
            Some(3)
        );
        assert_eq!(match_option("4", &o), None);
        assert_eq!(match_option("maybe", &o), None);
    }
}
