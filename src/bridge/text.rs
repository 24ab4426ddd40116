//! Text that crosses the bridge: a channel's own markup turned back into CommonMark, and the
//! agents' button syntax `[[Label|PAYLOAD]]`.

use switchboard_core::MarkdownDialect;

/// Converts text received in `dialect` into CommonMark, so the adapter on the other side can
/// render it for its channel. Slack mrkdwn: `*bold*` → `**bold**`, `_it_` → `*it*`, `~s~` →
/// `~~s~~`, `<url|label>` → `[label](url)`, `<@U1>` → `@U1`, `&amp;`/`&lt;`/`&gt;` unescaped.
/// WhatsApp markup is the same without the angle-bracket forms. Code spans are left alone.
pub fn to_commonmark(text: &str, dialect: MarkdownDialect) -> String {
    match dialect {
        MarkdownDialect::SlackMrkdwn => emphasis(&angle_forms(text), false),
        MarkdownDialect::WhatsApp => emphasis(text, false),
        _ => text.to_owned(),
    }
}

/// A customer's text as CommonMark for the agents' side, decided in issue 15: customers write
/// plain text (SMS, Messenger) or WhatsApp markup, never CommonMark. So everything they write is
/// shown as they wrote it: every ASCII punctuation character is backslash-escaped ([`literal`])
/// and a WhatsApp customer's `*bold*`, `_italic_` and `~strike~` are kept as emphasis. What
/// looks like a link (`[Your bank login](https://evil.example/login)`) stays text, with the URL
/// visible to the agent; nothing becomes a Slack mention or control sequence (`<!channel>`,
/// `<@U…>`, `<#C…>`), since the agents' renderer escapes `&`, `<` and `>` in all text.
pub fn customer_text(text: &str, dialect: MarkdownDialect) -> String {
    match dialect {
        MarkdownDialect::WhatsApp => emphasis(text, true),
        MarkdownDialect::SlackMrkdwn | MarkdownDialect::CommonMark => to_commonmark(text, dialect),
        _ => literal(text),
    }
}

/// `text` as CommonMark that renders exactly as `text`: every ASCII punctuation character is
/// backslash-escaped, so no markup, link, entity or HTML forms.
pub fn literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Slack's `<…>` forms and entities.
fn angle_forms(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('>') else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let inner = &after[..end];
        let (target, label) = match inner.split_once('|') {
            Some((t, l)) => (t, Some(l)),
            None => (inner, None),
        };
        if let Some(user) = target.strip_prefix('@') {
            out.push('@');
            out.push_str(label.unwrap_or(user));
        } else if let Some(chan) = target.strip_prefix('#') {
            out.push('#');
            out.push_str(label.unwrap_or(chan));
        } else if let Some(special) = target.strip_prefix('!') {
            out.push('@');
            out.push_str(label.unwrap_or(special));
        } else {
            match label {
                Some(l) => out.push_str(&format!("[{l}]({target})")),
                None => out.push_str(target),
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn is_boundary(c: Option<char>) -> bool {
    c.is_none_or(|c| c.is_whitespace() || (c.is_ascii_punctuation() && c != '`'))
}

/// `*b*`, `_i_`, `~s~` (single markers at word boundaries, on one line) into CommonMark; with
/// `escape_rest`, everything else is made [`literal`] (code spans included).
fn emphasis(text: &str, escape_rest: bool) -> String {
    let push = |out: &mut String, s: &str| {
        if escape_rest {
            out.push_str(&literal(s));
        } else {
            out.push_str(s);
        }
    };
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 8);
    let mut i = 0;
    let mut in_code = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '`' && !escape_rest {
            in_code = !in_code;
            out.push(c);
            i += 1;
            continue;
        }
        let marker = matches!(c, '*' | '_' | '~');
        let prev = i.checked_sub(1).map(|p| chars[p]);
        let next = chars.get(i + 1).copied();
        if !in_code && marker && is_boundary(prev) && next.is_some_and(|n| !n.is_whitespace()) {
            // Find the closing marker on the same line.
            let close = (i + 1..chars.len())
                .take_while(|&j| chars[j] != '\n')
                .find(|&j| {
                    chars[j] == c
                        && !chars[j - 1].is_whitespace()
                        && j > i + 1
                        && is_boundary(chars.get(j + 1).copied())
                });
            if let Some(j) = close {
                let inner: String = chars[i + 1..j].iter().collect();
                let wrap = match c {
                    '*' => "**",
                    '_' => "*",
                    _ => "~~",
                };
                out.push_str(wrap);
                push(&mut out, &inner);
                out.push_str(wrap);
                i = j + 1;
                continue;
            }
        }
        push(&mut out, c.encode_utf8(&mut [0; 4]));
        i += 1;
    }
    out
}

/// A button an agent wrote as `[[Label|PAYLOAD]]` (or `[[Label]]`: the payload is the label).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentButton {
    /// What the button says.
    pub label: String,
    /// What comes back when the customer picks it.
    pub payload: String,
}

/// Takes every `[[Label|PAYLOAD]]` out of `text`; returns the remaining text (trimmed) and the
/// buttons in order.
pub fn extract_buttons(text: &str) -> (String, Vec<AgentButton>) {
    let mut buttons = Vec::new();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("[[") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("]]") else {
            break;
        };
        let inner = after[..end].trim();
        let (label, payload) = match inner.split_once('|') {
            Some((l, p)) => (l.trim(), p.trim()),
            None => (inner, inner),
        };
        if label.is_empty() || payload.is_empty() {
            out.push_str(&rest[..start + 2 + end + 2]);
        } else {
            out.push_str(&rest[..start]);
            buttons.push(AgentButton {
                label: label.to_owned(),
                payload: payload.to_owned(),
            });
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    let cleaned: Vec<&str> = out.lines().map(str::trim_end).collect();
    (cleaned.join("\n").trim().to_owned(), buttons)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_mrkdwn_becomes_commonmark() {
        let t = to_commonmark(
            "Hi <@U0ALICE>! It's *out for delivery*, _today_ ~maybe~: <https://example.com/t?a=1&amp;b=2|track it> &lt;3 `*code*`",
            MarkdownDialect::SlackMrkdwn,
        );
        assert_eq!(
            t,
            "Hi @U0ALICE! It's **out for delivery**, *today* ~~maybe~~: [track it](https://example.com/t?a=1&b=2) <3 `*code*`"
        );
        assert_eq!(
            to_commonmark("2*3*4 snake_case_name", MarkdownDialect::SlackMrkdwn),
            "2*3*4 snake_case_name"
        );
        assert_eq!(
            to_commonmark("*bold*", MarkdownDialect::Plain),
            "*bold*",
            "plain text is left alone"
        );
    }

    #[test]
    fn customer_text_is_shown_as_written() {
        let issue =
            "[urgent](!channel) [ping](@U0ALICE) [Your bank login](https://evil.example/login)";
        let md = customer_text(issue, MarkdownDialect::Plain);
        let slack = switchboard_core::render::markdown::convert(&md, MarkdownDialect::SlackMrkdwn);
        assert_eq!(slack, issue, "shown as written, the URL visible");
        let md = customer_text("[a](x><!everyone) &lt;!here&gt;", MarkdownDialect::Plain);
        let slack = switchboard_core::render::markdown::convert(&md, MarkdownDialect::SlackMrkdwn);
        assert_eq!(slack, "[a](x&gt;&lt;!everyone) &amp;lt;!here&amp;gt;");
        let wa = customer_text("*Hi* [Boss](!everyone) 2*3", MarkdownDialect::WhatsApp);
        let slack = switchboard_core::render::markdown::convert(&wa, MarkdownDialect::SlackMrkdwn);
        assert_eq!(slack, "*Hi* [Boss](!everyone) 2*3");
    }

    #[test]
    fn buttons_are_extracted() {
        let (text, buttons) =
            extract_buttons("Which shipping?\n[[Standard, 5 days|SHIP_STD]] [[Express|SHIP_EXP]]");
        assert_eq!(text, "Which shipping?");
        assert_eq!(
            buttons,
            [
                AgentButton {
                    label: "Standard, 5 days".into(),
                    payload: "SHIP_STD".into()
                },
                AgentButton {
                    label: "Express".into(),
                    payload: "SHIP_EXP".into()
                }
            ]
        );
        let (text, buttons) = extract_buttons("no [[ ]] buttons [[Yes]]");
        assert_eq!(text, "no [[ ]] buttons");
        assert_eq!(buttons[0].payload, "Yes");
    }
}
