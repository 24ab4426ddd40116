//! Issue 15, item 1: what customers write reaches the agents' Slack channel as text. Markdown
//! links, mention and broadcast forms in a Messenger or SMS message or in a WhatsApp profile
//! name never become `<!…>`, `<@…>`, `<#…>` or a link; a URL stays visible.
#![allow(clippy::unwrap_used)]

use crate::world::{World, eventually};
use switchboard::twilio::emulator::Inbound;

fn assert_no_control_sequences(text: &str) {
    for bad in ["<!", "<@", "<#", "<x", "|urgent>", "|ping>"] {
        assert!(!text.contains(bad), "{bad:?} in {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_text_and_names_never_become_slack_control_sequences() {
    let w = World::start("bridge-hostile").await;
    let (_sb, running) = w.engine().await;

    w.customer_fb(
        &running,
        "[urgent](!channel) [ping](@U0ALICE) [Your bank login](https://evil.example/login)",
    )
    .await;
    eventually("the Messenger thread", || async { w.parents().len() == 1 }).await;
    let fb = w.parents()[0].text.clone();
    assert_no_control_sequences(&fb);
    assert!(
        fb.ends_with(
            "[urgent](!channel) [ping](@U0ALICE) [Your bank login](https://evil.example/login)"
        ),
        "shown as written, the URL visible: {fb}"
    );

    w.customer_sms(&running, "[a](x><!everyone)").await;
    eventually("the SMS thread", || async { w.parents().len() == 2 }).await;
    let sms = w.parents()[1].text.clone();
    assert_no_control_sequences(&sms);
    assert!(sms.ends_with("[a](x&gt;&lt;!everyone)"), "{sms}");

    let number = w.twilio.options().numbers[0].clone();
    let wa = Inbound {
        profile_name: Some("[Boss](!everyone)".to_owned()),
        ..Inbound::text(
            "whatsapp:+15558675399",
            &format!("whatsapp:{number}"),
            "*hello*",
        )
    };
    let url = format!("{}/webhooks/sms", running.url());
    assert_eq!(w.twilio.deliver(&url, &wa).await.status, 200);
    eventually("the WhatsApp thread", || async { w.parents().len() == 3 }).await;
    let header = w.parents()[2].text.clone();
    assert_no_control_sequences(&header);
    assert!(header.contains("[Boss](!everyone)"), "{header}");
    assert!(
        header.ends_with("*hello*"),
        "WhatsApp emphasis kept: {header}"
    );
    running.shutdown().await.unwrap();
}
