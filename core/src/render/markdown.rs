//! CommonMark to a channel's markup, through pulldown-cmark's event stream.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

use crate::capabilities::MarkdownDialect;

/// Converts CommonMark `text` to `dialect`.
///
/// - Slack mrkdwn: `*bold*`, `_italic_`, `~strike~`, `` `code` ``, fenced blocks, `<url|label>`
///   links, and `&`, `<`, `>` escaped as Slack requires.
/// - WhatsApp: `*bold*`, `_italic_`, `~strike~`, ```` ```mono``` ````; links as `label (url)`.
/// - Plain: no markup; links as `label (url)` (just the URL when the label is the URL).
/// - CommonMark: unchanged.
///
/// Lists become `•`/`1.` lines, headings a bold line (plain: the text), quotes `> ` lines.
pub fn convert(text: &str, dialect: MarkdownDialect) -> String {
    if dialect == MarkdownDialect::CommonMark {
        return text.to_owned();
    }
    let mut w = Writer::new(dialect);
    let parser = Parser::new_ext(text, Options::ENABLE_STRIKETHROUGH);
    for event in parser {
        w.event(event);
    }
    w.finish()
}

/// Escapes literal text for `dialect` (Slack: `&`, `<`, `>`).
pub fn escape(text: &str, dialect: MarkdownDialect) -> String {
    match dialect {
        MarkdownDialect::SlackMrkdwn => text
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;"),
        _ => text.to_owned(),
    }
}

/// Formats a link for `dialect`.
///
/// Slack: only an `http(s)` destination becomes a link (`<url|label>`, the URL's `&`, `<`, `>`
/// escaped and `|` percent-encoded, so it cannot end the link early). Any other destination
/// (`!channel`, `@U0ALICE`, `#C1`, `javascript:…`, `x><!everyone`) is shown as escaped text,
/// `label (destination)`: whatever the text says, it never becomes a Slack control sequence
/// (`<!…>`, `<@…>`, `<#…>`) or a link to something other than a web page. `label` is expected
/// escaped already (as [`convert`] does).
pub fn link(label: &str, url: &str, dialect: MarkdownDialect) -> String {
    match dialect {
        MarkdownDialect::SlackMrkdwn => slack_link(label, url),
        MarkdownDialect::CommonMark => format!("[{label}]({url})"),
        _ if label.is_empty() || label == url => url.to_owned(),
        _ => format!("{label} ({url})"),
    }
}

/// Whether `url` is an absolute `http://` or `https://` URL without spaces or control
/// characters: the only destinations rendered as links for Slack.
pub fn is_web_url(url: &str) -> bool {
    let rest = ["https://", "http://"].into_iter().find_map(|scheme| {
        url.get(..scheme.len())
            .filter(|s| s.eq_ignore_ascii_case(scheme))
            .map(|_| &url[scheme.len()..])
    });
    rest.is_some_and(|r| !r.is_empty() && !r.chars().any(|c| c.is_whitespace() || c.is_control()))
}

fn slack_link(label: &str, url: &str) -> String {
    let shown = escape(url, MarkdownDialect::SlackMrkdwn);
    if !is_web_url(url) {
        let bare = url.strip_prefix("mailto:").unwrap_or(url);
        return if label.is_empty() || label == url || label == shown || label == bare {
            escape(bare, MarkdownDialect::SlackMrkdwn)
        } else {
            format!("{label} ({shown})")
        };
    }
    // The scheme in lower case (`hTtps://` is an autolink in CommonMark): Slack's link syntax
    // and every reader of the post see one canonical `http(s)://`.
    let scheme = if url.as_bytes().get(4) == Some(&b':') {
        7
    } else {
        8
    };
    let canonical = format!("{}{}", url[..scheme].to_ascii_lowercase(), &url[scheme..]);
    let target = escape(&canonical, MarkdownDialect::SlackMrkdwn).replace('|', "%7C");
    if label.is_empty() || label == url || label == shown {
        format!("<{target}>")
    } else {
        format!("<{target}|{}>", label.replace('|', "¦"))
    }
}

struct LinkState {
    url: String,
    label: String,
}

struct Writer {
    dialect: MarkdownDialect,
    out: String,
    pending_breaks: usize,
    break_depth: usize,
    lists: Vec<Option<u64>>,
    quote_depth: usize,
    link: Option<LinkState>,
    in_code_block: bool,
}

impl Writer {
    fn new(dialect: MarkdownDialect) -> Self {
        Writer {
            dialect,
            out: String::new(),
            pending_breaks: 0,
            break_depth: 0,
            lists: Vec::new(),
            quote_depth: 0,
            link: None,
            in_code_block: false,
        }
    }

    fn block_break(&mut self, n: usize) {
        // Blank lines between blocks belong to the shallower quote of the two sides.
        self.break_depth = if self.pending_breaks == 0 {
            self.quote_depth
        } else {
            self.break_depth.min(self.quote_depth)
        };
        self.pending_breaks = self.pending_breaks.max(n);
    }

    fn write(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        if let Some(link) = &mut self.link {
            link.label.push_str(s);
            return;
        }
        if self.pending_breaks > 0 && !self.out.is_empty() {
            let blank = "> ".repeat(self.break_depth.min(self.quote_depth));
            for _ in 1..self.pending_breaks {
                self.out.push('\n');
                self.out.push_str(blank.trim_end());
            }
            self.out.push('\n');
            self.quote_prefix();
        } else if self.out.is_empty() {
            self.quote_prefix();
        }
        self.pending_breaks = 0;
        self.out.push_str(s);
    }

    fn quote_prefix(&mut self) {
        for _ in 0..self.quote_depth {
            self.out.push_str("> ");
        }
    }

    fn text(&mut self, s: &str) {
        let escaped = escape(s, self.dialect);
        if self.quote_depth > 0 && s.contains('\n') {
            let prefix = "> ".repeat(self.quote_depth);
            self.write(&escaped.replace('\n', &format!("\n{prefix}")));
        } else {
            self.write(&escaped);
        }
    }

    fn marker(&self, slack_wa: &'static str) -> &'static str {
        match self.dialect {
            MarkdownDialect::SlackMrkdwn | MarkdownDialect::WhatsApp => slack_wa,
            _ => "",
        }
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(t) => self.text(&t),
            Event::Code(c) => {
                let fence = match self.dialect {
                    MarkdownDialect::SlackMrkdwn => "`",
                    MarkdownDialect::WhatsApp => "```",
                    _ => "",
                };
                let body = escape(&c, self.dialect);
                self.write(&format!("{fence}{body}{fence}"));
            }
            Event::Html(h) | Event::InlineHtml(h) => self.text(&h),
            Event::SoftBreak | Event::HardBreak => {
                if self.link.is_some() {
                    self.write(" ");
                } else {
                    self.write("\n");
                    self.quote_prefix();
                }
            }
            Event::Rule => {
                self.block_break(2);
                self.write("———");
                self.block_break(2);
            }
            Event::TaskListMarker(done) => self.write(if done { "[x] " } else { "[ ] " }),
            _ => {}
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::Paragraph => self.block_break(if self.lists.is_empty() { 2 } else { 1 }),
            Tag::Heading { .. } => {
                self.block_break(2);
                let m = self.marker("*");
                self.write(m);
            }
            Tag::BlockQuote(_) => {
                self.block_break(2);
                self.quote_depth += 1;
            }
            Tag::CodeBlock(_) => {
                self.block_break(2);
                self.in_code_block = true;
                if matches!(
                    self.dialect,
                    MarkdownDialect::SlackMrkdwn | MarkdownDialect::WhatsApp
                ) {
                    self.write("```\n");
                }
            }
            Tag::List(start) => {
                self.block_break(if self.lists.is_empty() { 2 } else { 1 });
                self.lists.push(start);
            }
            Tag::Item => {
                self.block_break(1);
                let indent = "  ".repeat(self.lists.len().saturating_sub(1));
                let bullet = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        let s = format!("{indent}{n}. ");
                        *n += 1;
                        s
                    }
                    _ => format!("{indent}• "),
                };
                self.write(&bullet);
            }
            Tag::Emphasis => {
                let m = self.marker("_");
                self.write(m);
            }
            Tag::Strong => {
                let m = self.marker("*");
                self.write(m);
            }
            Tag::Strikethrough => {
                let m = self.marker("~");
                self.write(m);
            }
            Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. } => {
                self.link = Some(LinkState {
                    url: dest_url.to_string(),
                    label: String::new(),
                });
            }
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph => self.block_break(if self.lists.is_empty() { 2 } else { 1 }),
            TagEnd::Heading(_) => {
                let m = self.marker("*");
                self.write(m);
                self.block_break(2);
            }
            TagEnd::BlockQuote(_) => {
                self.quote_depth = self.quote_depth.saturating_sub(1);
                self.block_break(2);
            }
            TagEnd::CodeBlock => {
                self.in_code_block = false;
                if self.out.ends_with('\n') {
                    self.out.pop();
                }
                if matches!(
                    self.dialect,
                    MarkdownDialect::SlackMrkdwn | MarkdownDialect::WhatsApp
                ) {
                    self.write("\n```");
                }
                self.block_break(2);
            }
            TagEnd::List(_) => {
                self.lists.pop();
                self.block_break(if self.lists.is_empty() { 2 } else { 1 });
            }
            TagEnd::Item => self.block_break(1),
            TagEnd::Emphasis => {
                let m = self.marker("_");
                self.write(m);
            }
            TagEnd::Strong => {
                let m = self.marker("*");
                self.write(m);
            }
            TagEnd::Strikethrough => {
                let m = self.marker("~");
                self.write(m);
            }
            TagEnd::Link | TagEnd::Image => {
                if let Some(LinkState { url, label }) = self.link.take() {
                    // Slack escapes were applied to the label text already.
                    let rendered = link(&label, &url, self.dialect);
                    self.write(&rendered);
                }
            }
            _ => {}
        }
    }

    fn finish(self) -> String {
        self.out.trim_end().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MarkdownDialect::*;

    #[test]
    fn slack_mrkdwn() {
        assert_eq!(
            convert("**bold** and *it* ~~gone~~", SlackMrkdwn),
            "*bold* and _it_ ~gone~"
        );
        assert_eq!(
            convert("[Docs](https://x.test/a)", SlackMrkdwn),
            "<https://x.test/a|Docs>"
        );
        assert_eq!(
            convert("a < b & c > d", SlackMrkdwn),
            "a &lt; b &amp; c &gt; d"
        );
        assert_eq!(convert("use `a<b`", SlackMrkdwn), "use `a&lt;b`");
        assert_eq!(convert("<https://x.test>", SlackMrkdwn), "<https://x.test>");
    }

    /// Autolinks accept any case of the scheme; Slack gets it in lower case (found by fuzzing).
    #[test]
    fn slack_link_schemes_are_written_in_lower_case() {
        let out = convert(
            "<hTtps://auto.example> [x](HTTP://a.example/P)",
            MarkdownDialect::SlackMrkdwn,
        );
        assert!(out.contains("<https://auto.example>"), "{out}");
        assert!(out.contains("<http://a.example/P|x>"), "{out}");
    }

    /// Issue 15, item 1: link destinations never become Slack control sequences.
    #[test]
    fn slack_links_never_become_control_sequences() {
        let out = convert(
            "[urgent](!channel) [ping](@U0ALICE) [Your bank login](https://evil.example/login)",
            SlackMrkdwn,
        );
        assert_eq!(
            out,
            "urgent (!channel) ping (@U0ALICE) <https://evil.example/login|Your bank login>"
        );
        assert_eq!(
            convert("[a](x><!everyone)", SlackMrkdwn),
            "a (x&gt;&lt;!everyone)"
        );
        assert_eq!(
            convert("[Boss](!everyone)", SlackMrkdwn),
            "Boss (!everyone)"
        );
        assert_eq!(convert("[c](#C0GENERAL)", SlackMrkdwn), "c (#C0GENERAL)");
        assert_eq!(
            convert("[x](javascript:alert(1))", SlackMrkdwn),
            "x (javascript:alert(1))"
        );
        assert_eq!(convert("<mailto:a@b.test>", SlackMrkdwn), "a@b.test");
        assert_eq!(
            link("t", "https://x.test/?q=a|b&c=<d>", SlackMrkdwn),
            "<https://x.test/?q=a%7Cb&amp;c=&lt;d&gt;|t>"
        );
        for hostile in [
            "<!channel>",
            "<@U1>",
            "<#C1>",
            "&lt;!here&gt;",
            "[t](https://x.test/a?b=1|<!here>)",
        ] {
            let out = convert(hostile, SlackMrkdwn);
            assert!(
                !out.contains("<!") && !out.contains("<@") && !out.contains("<#"),
                "{out}"
            );
        }
    }

    #[test]
    fn whatsapp() {
        assert_eq!(
            convert("**bold** _it_ ~~s~~ `m`", WhatsApp),
            "*bold* _it_ ~s~ ```m```"
        );
        assert_eq!(
            convert("[Docs](https://x.test)", WhatsApp),
            "Docs (https://x.test)"
        );
    }

    #[test]
    fn plain_keeps_links_readable() {
        assert_eq!(
            convert("**Hi** see [the docs](https://x.test/d)", Plain),
            "Hi see the docs (https://x.test/d)"
        );
        assert_eq!(convert("<https://x.test>", Plain), "https://x.test");
        assert_eq!(
            convert("# Title\n\npara one\n\n- a\n- b\n\n1. x\n2. y", Plain),
            "Title\n\npara one\n\n• a\n• b\n\n1. x\n2. y"
        );
    }

    #[test]
    fn code_blocks_and_quotes() {
        assert_eq!(
            convert("```\nlet x = 1;\n```", SlackMrkdwn),
            "```\nlet x = 1;\n```"
        );
        assert_eq!(convert("```\nlet x = 1;\n```", Plain), "let x = 1;");
        assert_eq!(convert("> quoted\n\nafter", Plain), "> quoted\n\nafter");
        assert_eq!(convert("line one\nline two", Plain), "line one\nline two");
    }

    #[test]
    fn commonmark_is_unchanged() {
        assert_eq!(convert("**x** [a](b)", CommonMark), "**x** [a](b)");
    }
}

#[cfg(test)]
mod quote_tests {
    use super::*;

    #[test]
    fn block_quotes_after_a_paragraph_have_no_empty_quote_line() {
        assert_eq!(
            convert("intro\n\n> quoted", MarkdownDialect::SlackMrkdwn),
            "intro\n\n> quoted"
        );
        assert_eq!(
            convert("> one\n> two\n\nafter", MarkdownDialect::Plain),
            "> one\n> two\n\nafter"
        );
        assert_eq!(
            convert("> first\n>\n> second", MarkdownDialect::Plain),
            "> first\n>\n> second"
        );
    }
}
