//! Inbound attachment downloads (`fetch_attachment`): Meta's CDN URL fetched without the Page
//! token, internal addresses refused, and the 25 MiB cap enforced (issue 15, items 4 and 7).

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use switchboard_core::model::{AttachmentKind, InboundAttachment};
use switchboard_core::{Adapter, ChannelName, ErrorKind, Retry, Secret};
use switchboard_messenger::{MAX_MEDIA_BYTES, MessengerAdapter, MessengerConfig};

/// A CDN stand-in on 127.0.0.1 (the adapter's `api_base_url`, so its trusted origin): `/big`
/// is 48 MiB, `/small` 3 bytes, `/gone` a 404. Records each request's headers.
async fn cdn() -> (String, Arc<Mutex<Vec<HeaderMap>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = |seen: Arc<Mutex<Vec<HeaderMap>>>| {
        move |headers: HeaderMap| {
            seen.lock().unwrap().push(headers);
            async {}
        }
    };
    let (s1, s2) = (seen.clone(), seen.clone());
    let app = axum::Router::new()
        .route(
            "/big",
            axum::routing::get(move |h: HeaderMap| {
                let r = record(s1.clone());
                async move {
                    r(h).await;
                    ([("content-type", "video/mp4")], vec![0u8; 48 * 1024 * 1024])
                }
            }),
        )
        .route(
            "/small",
            axum::routing::get(move |h: HeaderMap| {
                let r = record(s2.clone());
                async move {
                    r(h).await;
                    ([("content-type", "image/png")], &b"png"[..])
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    (base, seen)
}

fn adapter(api_base_url: &str) -> MessengerAdapter {
    let config = MessengerConfig::builder(
        ChannelName::new("fb").unwrap(),
        "1895382890692545",
        Secret::new("page-token"),
        Secret::new("app-secret"),
        Secret::new("verify-token"),
    )
    .api_base_url(api_base_url)
    .build()
    .unwrap();
    MessengerAdapter::new(config).unwrap()
}

fn image(url: String) -> InboundAttachment {
    InboundAttachment::new(AttachmentKind::Image, Some(url))
}

/// Messenger had no `fetch_attachment` (the bridge could only link its media). Now: a 48 MiB
/// attachment is refused as `TooLarge` naming the 25 MiB cap; a small one is fetched with its
/// content type and without the Page token; a 404 is `NotFound`; internal addresses are
/// refused before any request.
#[tokio::test]
async fn attachments_are_fetched_capped_and_without_the_token() {
    let (base, seen) = cdn().await;
    let a = adapter(&base);
    let e = a
        .fetch_attachment(&image(format!("{base}/big")))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge, "{e}");
    assert_eq!(e.retry(), Retry::Never);
    assert!(e.to_string().contains("25 MiB"), "{e}");
    assert_eq!(MAX_MEDIA_BYTES, 25 * 1024 * 1024);

    let got = a
        .fetch_attachment(&image(format!("{base}/small?token=signed")))
        .await
        .unwrap();
    assert_eq!(got.bytes.as_ref(), b"png");
    assert_eq!(got.mime_type.as_deref(), Some("image/png"));
    for headers in seen.lock().unwrap().iter() {
        assert!(headers.get("authorization").is_none());
    }

    let e = a
        .fetch_attachment(&image(format!("{base}/gone")))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    for url in [
        "https://169.254.169.254/latest/meta-data/",
        "https://10.1.2.3/x.png",
        "http://lookaside.fbsbx.com/x",
    ] {
        let e = a
            .fetch_attachment(&image(url.to_owned()))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnsafeUrl, "{url}: {e}");
    }
}
