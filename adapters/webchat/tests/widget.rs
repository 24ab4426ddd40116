//! The widget (`widget/widget.js`): one dependency-free file, small, that never inserts text as
//! HTML; its markdown renderer is checked against hostile content with node when node is
//! installed (`widget/widget.test.js`, which also mounts it on a stand-in DOM and checks that a
//! truncated history is noted once; skipped without node).

use std::path::Path;
use std::process::Command;

fn widget() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("widget/widget.js");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_widget_is_one_small_file_without_dependencies_or_html_sinks() {
    let js = widget();
    assert!(
        js.len() < 30 * 1024,
        "{} bytes before compression",
        js.len()
    );
    for forbidden in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "import ",
        "require(",
    ] {
        assert!(!js.contains(forbidden), "widget.js uses {forbidden}");
    }
    for protocol in [
        "EventSource",
        "client_id",
        "Last-Event-ID",
        "after=",
        "Retry-After",
        "history_truncated",
    ] {
        assert!(js.contains(protocol), "widget.js lacks {protocol}");
    }
}

#[test]
fn hostile_markdown_renders_inert() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("widget/widget.test.js");
    let output = match Command::new("node").arg(&script).output() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("skipped: node is not installed ({e})");
            return;
        }
    };
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
