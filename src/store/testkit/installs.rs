//! Installations ([`store::installs`](crate::store::installs)): rows kept, replaced, listed
//! and deleted; refresh leases taken by one caller until they run out or a put releases them;
//! OAuth states spent once. A store without installations (`Unsupported`) skips them.

use super::prelude::*;
use crate::store::InstallRow;

fn row(channel: &str, tenant: &str, meta: &str, expires: Option<SystemTime>) -> InstallRow {
    InstallRow::new(
        channel,
        tenant,
        meta,
        format!("v1.k.{tenant}-{meta}"),
        expires,
        SystemTime::now(),
    )
}

/// Whether `store` keeps installations (the checks skip it otherwise).
async fn supported(store: &dyn Store) -> bool {
    match store.list_installs(None).await {
        Ok(_) => true,
        Err(e) if e.kind() == ErrorKind::Unsupported => false,
        Err(e) => panic!("list_installs: {e}"),
    }
}

/// A put replaces its (channel, tenant); gets, lists by channel and deletes see exactly the
/// rows put; expiry comes back to the millisecond.
pub async fn installs_are_kept_replaced_and_deleted(store: &dyn Store) {
    if !supported(store).await {
        return;
    }
    let exp = millis_time(SystemTime::now() + Duration::from_secs(3600));
    store
        .put_install(&row("team", "T1", "{\"a\":1}", None))
        .await
        .unwrap();
    store
        .put_install(&row("team", "T2", "{}", Some(exp)))
        .await
        .unwrap();
    store
        .put_install(&row("other", "T1", "{}", None))
        .await
        .unwrap();
    store
        .put_install(&row("team", "T1", "{\"a\":2}", None))
        .await
        .unwrap();
    let t1 = store.get_install("team", "T1").await.unwrap().unwrap();
    assert_eq!(
        (t1.meta.as_str(), t1.sealed.as_str()),
        ("{\"a\":2}", "v1.k.T1-{\"a\":2}")
    );
    let t2 = store.get_install("team", "T2").await.unwrap().unwrap();
    assert_eq!(t2.expires_at, Some(exp));
    assert_eq!(t1.expires_at, None);
    assert!(store.get_install("team", "T3").await.unwrap().is_none());
    let team: Vec<String> = store
        .list_installs(Some("team"))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.tenant)
        .collect();
    assert_eq!(team, ["T1", "T2"]);
    assert_eq!(store.list_installs(None).await.unwrap().len(), 3);
    assert!(store.delete_install("team", "T1").await.unwrap());
    assert!(!store.delete_install("team", "T1").await.unwrap());
    assert!(store.get_install("team", "T1").await.unwrap().is_none());
    assert!(
        store.get_install("other", "T1").await.unwrap().is_some(),
        "channels apart"
    );
}

/// One claim wins until its lease runs out or a put of the row releases it; no row, no claim.
pub async fn refresh_claims_are_exclusive_until_released(store: &dyn Store) {
    if !supported(store).await {
        return;
    }
    let now = SystemTime::now();
    let until = now + Duration::from_secs(30);
    assert!(
        !store
            .claim_install_refresh("team", "T1", now, until)
            .await
            .unwrap()
    );
    store
        .put_install(&row("team", "T1", "{}", None))
        .await
        .unwrap();
    assert!(
        store
            .claim_install_refresh("team", "T1", now, until)
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_install_refresh("team", "T1", now, until)
            .await
            .unwrap()
    );
    let later = until + Duration::from_millis(1);
    assert!(
        store
            .claim_install_refresh("team", "T1", later, later + Duration::from_secs(30))
            .await
            .unwrap(),
        "a lease that ran out can be claimed again"
    );
    store
        .put_install(&row("team", "T1", "{\"r\":1}", None))
        .await
        .unwrap();
    assert!(
        store
            .claim_install_refresh("team", "T1", later, later + Duration::from_secs(30))
            .await
            .unwrap(),
        "a put releases the lease"
    );
}

/// A state is spent once; expired ones are forgotten.
pub async fn oauth_states_are_spent_once(store: &dyn Store) {
    if !supported(store).await {
        return;
    }
    let now = SystemTime::now();
    let exp = now + Duration::from_secs(600);
    assert!(store.spend_oauth_state("n1", exp, now).await.unwrap());
    assert!(!store.spend_oauth_state("n1", exp, now).await.unwrap());
    assert!(store.spend_oauth_state("n2", exp, now).await.unwrap());
    let after = exp + Duration::from_secs(1);
    assert!(
        store
            .spend_oauth_state("n1", after + Duration::from_secs(600), after)
            .await
            .unwrap(),
        "an expired state is forgotten (the engine refuses it on its expiry first)"
    );
}

fn millis_time(t: SystemTime) -> SystemTime {
    switchboard_core::model::time::from_millis(millis(t))
}
