//! Issue 15, item 7: a signed MMS whose `MediaUrl` points inside the network is refused with
//! `UnsafeUrl`, and nothing is fetched: a loopback service, the cloud metadata address, a plain
//! `http` URL, and a redirect from the provider's own host to a loopback service.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use switchboard_core::model::EventKind;
use switchboard_core::{Adapter, ChannelName, ErrorKind, Retry, Secret, WebhookRequest};
use switchboard_twilio::emulator::{Emulator, EmulatorOptions, Inbound};
use switchboard_twilio::{TwilioAdapter, TwilioConfig};

const USER: &str = "+15558675310";
const OURS: &str = "+15005550006";

/// An HTTP server on 127.0.0.1 recording every request's path and `Authorization`; answers
/// `answer(path)`.
async fn server(
    answer: fn(&str) -> axum::response::Response,
) -> (String, Arc<Mutex<Vec<(String, bool)>>>) {
    let seen: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
        let log = log.clone();
        async move {
            let path = uri.path().to_owned();
            log.lock()
                .unwrap()
                .push((path.clone(), headers.contains_key("authorization")));
            answer(&path)
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, seen)
}

fn adapter(emu: &Emulator, api_base_url: Option<&str>) -> TwilioAdapter {
    let o = emu.options();
    let mut b = TwilioConfig::builder(
        ChannelName::new("sms").unwrap(),
        o.account_sid.clone(),
        Secret::new(o.auth_token.clone()),
    )
    .from(OURS);
    if let Some(url) = api_base_url {
        b = b.api_base_url(url);
    }
    TwilioAdapter::new(b.build().unwrap()).unwrap()
}

/// The attachment of a signed MMS pointing at `media_url`, decoded by `adapter`.
fn mms_attachment(
    emu: &Emulator,
    adapter: &TwilioAdapter,
    media_url: &str,
) -> switchboard_core::model::InboundAttachment {
    let mms = Inbound {
        media: vec![(media_url.to_owned(), "image/png".into())],
        ..Inbound::text(USER, OURS, "look")
    };
    let req: WebhookRequest = emu.signed_request("https://bot.example/webhooks/sms", &mms);
    let out = adapter.handle_webhook(&req);
    let events = out.accepted_events().expect("a signed MMS is accepted");
    let EventKind::Message(m) = &events[0].kind else {
        panic!("{:?}", events[0].kind)
    };
    m.attachments[0].clone()
}

#[tokio::test]
async fn media_urls_inside_the_network_are_refused() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let (internal, seen) = server(|_| (StatusCode::OK, "internal secret").into_response()).await;
    let internal_port = internal.rsplit(':').next().unwrap().to_owned();
    // The production default: api_base_url is Twilio's public API.
    let sms = adapter(&emu, None);
    for url in [
        format!("{internal}/admin"),
        format!("https://127.0.0.1:{internal_port}/admin"),
        format!("https://localhost:{internal_port}/admin"),
        "https://169.254.169.254/latest/meta-data/iam/security-credentials/".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "https://[::ffff:127.0.0.1]/x".to_owned(),
        "http://media.twiliocdn.com/x".to_owned(),
    ] {
        let attachment = mms_attachment(&emu, &sms, &url);
        let e = sms.fetch_attachment(&attachment).await.err().unwrap();
        assert_eq!(e.kind(), ErrorKind::UnsafeUrl, "{url}: {e}");
        assert_eq!(e.retry(), Retry::Never, "{url}");
        assert_eq!(e.provider(), Some("twilio"));
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "{:?}",
        seen.lock().unwrap()
    );
}

#[tokio::test]
async fn a_redirect_from_the_api_host_to_loopback_is_refused() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let (internal, seen_inside) =
        server(|_| (StatusCode::OK, "internal secret").into_response()).await;
    // The "provider": the channel's api_base_url (trusted, as an emulator is), which redirects
    // `/to/PORT` to that port on loopback.
    let (provider, seen_provider) = server(|path| {
        let port = path.trim_start_matches("/to/");
        (
            StatusCode::FOUND,
            [("location", format!("http://127.0.0.1:{port}/admin"))],
        )
            .into_response()
    })
    .await;
    let sms = adapter(&emu, Some(&provider));
    let port = internal.rsplit(':').next().unwrap();
    let attachment = mms_attachment(&emu, &sms, &format!("{provider}/to/{port}"));
    let e = sms.fetch_attachment(&attachment).await.err().unwrap();
    assert_eq!(e.kind(), ErrorKind::UnsafeUrl, "{e}");
    assert_eq!(seen_provider.lock().unwrap().len(), 1);
    assert!(
        seen_provider.lock().unwrap()[0].1,
        "Basic auth to the API host"
    );
    assert!(seen_inside.lock().unwrap().is_empty());
}

#[tokio::test]
async fn media_on_the_api_host_is_still_fetched() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let sms = adapter(&emu, Some(&emu.base_url()));
    let url = emu.add_media(&b"\x89PNG fake"[..], "image/png");
    let attachment = mms_attachment(&emu, &sms, &url);
    let got = sms.fetch_attachment(&attachment).await.unwrap();
    assert_eq!(&got.bytes[..], b"\x89PNG fake");
}

/// Issue 15, item 4: a signed MMS whose media is 48 MiB was downloaded whole (about 500 MB of
/// RSS, then a 64 MB outbox row through the bridge). Twilio's cap is 5 MiB, MMS's own limit:
/// the download stops with `TooLarge` naming the cap (by `Content-Length`, before the body is
/// read); media within it is fetched as before.
#[tokio::test]
async fn media_over_the_mms_cap_is_refused_naming_the_cap() {
    let emu = Emulator::start(EmulatorOptions::default()).await.unwrap();
    let sms = adapter(&emu, Some(&emu.base_url()));
    let huge = emu.add_media(vec![0u8; 48 * 1024 * 1024], "video/mp4");
    let e = sms
        .fetch_attachment(&mms_attachment(&emu, &sms, &huge))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge, "{e}");
    assert_eq!(e.retry(), Retry::Never);
    assert!(e.to_string().contains("5 MiB"), "{e}");
    assert_eq!(switchboard_twilio::MAX_MEDIA_BYTES, 5 * 1024 * 1024);
    let fits = emu.add_media(vec![1u8; 5 * 1024 * 1024], "image/jpeg");
    let got = sms
        .fetch_attachment(&mms_attachment(&emu, &sms, &fits))
        .await
        .unwrap();
    assert_eq!(got.bytes.len(), 5 * 1024 * 1024);
}
