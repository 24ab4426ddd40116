use switchboard_core::ChannelName;

use super::*;

fn with_endpoint<T>(f: impl FnOnce(&Endpoint<'_>) -> T) -> T {
    let channel = ChannelName::new("site").unwrap_or_else(|e| panic!("{e}"));
    let config = WebchatConfig::builder(["https://shop.example"])
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let key = TokenKey::from_bytes([0; 32]);
    let limits = crate::limit::Limits::new(config.visitor_rate);
    f(&Endpoint {
        channel: &channel,
        config: &config,
        key: &key,
        limits: &limits,
        peer: None,
    })
}

#[test]
fn routes_are_found_under_the_channel() {
    with_endpoint(|ep| {
        let r = ep
            .route("https://chat.example/base/webchat/site/messages?after=3")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.base, "https://chat.example/base/webchat/site/");
        assert_eq!(r.endpoint, "messages");
        let r = ep
            .route("/webchat/site/uploads/f1/")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (r.base.as_str(), r.endpoint.as_str()),
            ("/webchat/site/", "uploads/f1")
        );
        for other in [
            "https://chat.example/webchat/shop/messages",
            "https://chat.example/webchat/site",
            "https://chat.example/x?u=/webchat/site/messages",
        ] {
            assert_eq!(
                ep.route(other).map(|_| ()).map_err(|e| e.reason()),
                Err(Reason::NotFound),
                "{other}"
            );
        }
    });
}
