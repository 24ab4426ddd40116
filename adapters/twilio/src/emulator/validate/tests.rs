use super::*;

fn p(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn code(list: &[(&str, &str)]) -> u32 {
    let numbers = vec![
        "+15550001111".to_owned(),
        "whatsapp:+15550001111".to_owned(),
    ];
    match validate_create(&p(list), &numbers, &[]) {
        Ok(r) => panic!("accepted {r:?}"),
        Err(f) => f.code,
    }
}

#[test]
fn documented_validation_errors() {
    assert_eq!(code(&[("From", "+15550001111"), ("Body", "x")]), 21604);
    assert_eq!(
        code(&[("To", "555-1234"), ("From", "+15550001111"), ("Body", "x")]),
        21211
    );
    assert_eq!(code(&[("To", "+15550002222"), ("Body", "x")]), 21603);
    assert_eq!(
        code(&[("To", "+15550002222"), ("From", "+15550001111")]),
        21619
    );
    let long = "a".repeat(1601);
    assert_eq!(
        code(&[
            ("To", "+15550002222"),
            ("From", "+15550001111"),
            ("Body", &long)
        ]),
        21617
    );
    assert_eq!(
        code(&[
            ("To", "+15550002222"),
            ("From", "+19999999999"),
            ("Body", "x")
        ]),
        21606
    );
    assert_eq!(
        code(&[
            ("To", "whatsapp:+15550002222"),
            ("From", "+15550001111"),
            ("Body", "x")
        ]),
        21910
    );
    let mut many = vec![("To", "+15550002222"), ("From", "+15550001111")];
    many.extend(std::iter::repeat_n(
        ("MediaUrl", "https://m.test/a.png"),
        11,
    ));
    assert_eq!(code(&many), 21623);
    assert_eq!(
        code(&[
            ("To", "+15550002222"),
            ("From", "+15550001111"),
            ("MediaUrl", "nope")
        ]),
        21620
    );
}

#[test]
fn resource_matches_the_spec_shape() {
    let numbers = vec!["+15550001111".to_owned()];
    let req = validate_create(
        &p(&[
            ("To", "+15550002222"),
            ("From", "+15550001111"),
            ("Body", &"é".repeat(200)),
        ]),
        &numbers,
        &[],
    )
    .unwrap();
    let r = resource(
        "AC0123456789abcdef0123456789abcdef",
        "SM0123456789abcdef0123456789abcdef",
        &req,
        std::time::UNIX_EPOCH,
    );
    assert_eq!(r.status, "queued");
    assert_eq!(r.num_segments.as_deref(), Some("2"));
    assert_eq!(
        r.date_created.as_deref(),
        Some("Thu, 01 Jan 1970 00:00:00 +0000")
    );
    assert!(
        r.uri
            .as_deref()
            .unwrap()
            .ends_with("/Messages/SM0123456789abcdef0123456789abcdef.json")
    );
}
