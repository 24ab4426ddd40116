//! Tests of `[gateway]` reading: the documented section, and every bad value named.

use super::*;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn parse(s: &str) -> Result<Option<GatewayConfig>> {
    let doc: toml::Table = s.parse().unwrap_or_else(|e| panic!("{e}"));
    GatewayConfig::from_document(
        &doc,
        &Env::from_pairs([("KEY", "k-0123456789abcdef"), ("SECRET", SECRET)]),
    )
}

fn problem(s: &str) -> String {
    parse(s)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_else(|| panic!("no error for {s}"))
}

#[test]
fn reads_the_documented_section() {
    let c = parse(
        r#"
[gateway]
api_keys = ["${KEY}", { sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", channels = ["sms"] }]
[[gateway.forward]]
url = "https://app.example/switchboard/events"
secrets = ["${SECRET}"]
channels = ["sms", "site"]
"#,
    )
    .unwrap_or_else(|e| panic!("{e}"))
    .unwrap_or_else(|| panic!("no gateway"));
    assert_eq!(c.api_keys.len(), 2);
    assert!(c.api_keys[0].allows("anything"));
    assert!(c.api_keys[1].allows("sms") && !c.api_keys[1].allows("fb"));
    assert_eq!(c.forward[0].name, "https://app.example/switchboard/events");
    assert!(c.forward[0].wants("site") && !c.forward[0].wants("fb"));
    assert_eq!(c.retry_schedule, DEFAULT_RETRY_SCHEDULE.to_vec());
    assert_eq!(c.timeout, Duration::from_secs(15));
    let problems = c.check_channels(["sms"]);
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0]
            .to_string()
            .contains("gateway: key 'forward[0].channels': no channel 'site'"),
        "{}",
        problems[0]
    );
    assert!(parse("[server]").is_ok_and(|c| c.is_none()));
}

#[test]
fn every_bad_value_names_its_key() {
    let fwd = |url: &str, extra: &str| {
        format!(
            "[gateway]\n[[gateway.forward]]\nurl = \"{url}\"\nsecrets = [\"{SECRET}\"]\n{extra}"
        )
    };
    assert!(
        problem("[gateway]\napi_keys = [\"short\"]")
            .contains("key 'api_keys[0]': must be at least 16")
    );
    assert!(problem("[gateway]\napi_keys = [\"${NOPE_UNSET}\"]").contains("NOPE_UNSET is not set"));
    assert!(problem("[gateway]\napi_keys = [{ sha256 = \"abc\" }]").contains("api_keys[0].sha256"));
    assert!(
        problem("[gateway]\napi_keys = [{ key = \"k-0123456789abcdef\", sha256 = \"ab\" }]")
            .contains("exactly one")
    );
    assert!(problem("[gateway]\napi_key = []").contains("unknown field `api_key`"));
    assert!(problem("[gateway]").contains("configure api_keys"));
    assert!(
        problem(&fwd("http://app.example/x", ""))
            .contains("key 'forward[0].url': plain http is refused")
    );
    assert!(problem(&fwd("https://127.0.0.1/x", "")).contains("loopback"));
    assert!(problem(&fwd("https://10.1.2.3/x", "")).contains("private"));
    assert!(problem(&fwd("https://169.254.169.254/x", "")).contains("forward[0].url"));
    assert!(problem(&fwd("https://localhost:8080/x", "")).contains("loopback name"));
    assert!(problem(&fwd("ftp://app.example/x", "")).contains("scheme 'ftp'"));
    assert!(
        problem(&fwd("https://app.example/x", "channels = []")).contains("forward[0].channels")
    );
    assert!(problem(&fwd("https://app.example/x", "name = \"a b\"")).contains("forward[0].name"));
    assert!(
        problem(&fwd("https://app.example/x", "secret = 1")).contains("unknown field `secret`")
    );
    assert!(
        problem("[gateway]\n[[gateway.forward]]\nurl = \"https://a.example\"\nsecrets = [\"whsec_c2hvcnQ=\"]")
            .contains("key 'forward[0].secrets[0]': a secret must hold 24 to 64 bytes")
    );
    assert!(
        problem("[gateway]\n[[gateway.forward]]\nurl = \"https://a.example\"\nsecrets = []")
            .contains("forward[0].secrets")
    );
    let twice = format!(
        "{}\n[[gateway.forward]]\nurl = \"https://app.example/x\"\nsecrets = [\"{SECRET}\"]",
        fwd("https://app.example/x", "")
    );
    assert!(problem(&twice).contains("forward[1].name"));
    assert!(
        problem(
            &fwd("https://app.example/x", "")
                .replace("[gateway]", "[gateway]\nretry_schedule = []")
        )
        .contains("retry_schedule")
    );
    assert!(
        problem(
            &fwd("https://app.example/x", "").replace("[gateway]", "[gateway]\ntimeout = \"2m\"")
        )
        .contains("timeout")
    );
    // Allowed explicitly: local development.
    let local = fwd("http://127.0.0.1:9/x", "").replace(
        "[gateway]",
        "[gateway]\nallow_private_targets = true\nretry_schedule = [\"0s\", \"50ms\"]",
    );
    let c = parse(&local)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("none"));
    assert_eq!(
        c.retry_schedule,
        vec![Duration::ZERO, Duration::from_millis(50)]
    );
}

#[test]
fn the_api_listens_where_api_on_says() {
    let with = |server: &str, on: &str| {
        parse(&format!(
            "{server}\n[gateway]\napi_keys = [\"${{KEY}}\"]\napi_on = \"{on}\"\n"
        ))
    };
    let admin = "[server]\nadmin_listen = \"127.0.0.1:9090\"";
    let c = with(admin, "admin_listen")
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("none"));
    assert_eq!(c.api_on, ApiOn::AdminListen);
    let c = with("", "listen")
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("none"));
    assert_eq!(c.api_on, ApiOn::Listen);
    let e = with("", "admin_listen")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("needs [server] admin_listen"), "{e}");
    let e = with(admin, "admin")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("key 'api_on'"), "{e}");
}
