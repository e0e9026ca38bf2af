//! The general HTTP rules of http.html: status codes, Location, ETag, If-Match, If-None-Exist,
//! 404, OperationOutcome on errors, content negotiation (Accept, _format) and Prefer.

use serde_json::json;

use super::super::exchange::*;
use super::super::fixtures::*;
use super::super::JSON_TYPE;
use emr_validate::fhir::is_operation_outcome;

pub(super) async fn status_201(ctx: &mut Ctx, f: &Fixture) -> Step<Judged> {
    let a = ctx.create(&f.patient(), &[]).await?;
    expect_status(&a, "the create", &[201])?;
    pass("201 Created")
}

pub(super) async fn location(ctx: &mut Ctx, f: &Fixture) -> Step<Judged> {
    let a = ctx.create(&f.patient(), &[]).await?;
    let id = last_id(ctx);
    match a.header("location") {
        None => fail("no Location header"),
        Some(l) if l.contains(&format!("Patient/{id}")) => pass(format!("Location: {l}")),
        Some(l) => fail(format!("Location {l:?} does not name Patient/{id}")),
    }
}

pub(super) async fn etag(ctx: &mut Ctx, f: &Fixture) -> Step<Judged> {
    let created = ctx.create(&f.patient(), &[]).await?;
    let id = last_id(ctx);
    let read = ctx.send("GET", &format!("Patient/{id}"), &[], None).await?;
    let mut changed_patient = f.patient();
    changed_patient["id"] = json!(id);
    change(&mut changed_patient);
    let update = ctx
        .send("PUT", &format!("Patient/{id}"), &[], Some(&changed_patient))
        .await?;
    let mut answers = vec![("create", &created), ("read", &read)];
    // An update the server does not offer is judged elsewhere; its ETag only when it worked.
    if (200..300).contains(&update.status()) {
        answers.push(("update", &update));
    }
    let mut wrong = Vec::new();
    for (what, a) in answers {
        let v = version_of(a);
        match a.header("etag") {
            None => wrong.push(format!("no ETag on the {what}")),
            Some(e) if !v.is_empty() && e != format!("W/\"{v}\"") => {
                wrong.push(format!("the {what}'s ETag {e:?} is not W/\"{v}\""))
            }
            Some(_) => {}
        }
    }
    if wrong.is_empty() {
        pass("weak ETag with the versionId on create, read and update")
    } else {
        fail(wrong.join("; "))
    }
}

pub(super) async fn if_match(ctx: &mut Ctx, f: &Fixture) -> Step<Judged> {
    let mut r = f.patient();
    let created = ctx.create(&r, &[]).await?;
    let id = last_id(ctx);
    let v = version_of(&created);
    let stale = format!("W/\"{}\"", v.parse::<u64>().unwrap_or(1) + 41);
    r["id"] = json!(id);
    change(&mut r);
    let a = ctx
        .send(
            "PUT",
            &format!("Patient/{id}"),
            &[("If-Match", stale.as_str())],
            Some(&r),
        )
        .await?;
    expect_status(&a, &format!("an update with If-Match {stale}"), &[412])?;
    pass("412 Precondition Failed")
}

pub(super) async fn conditional_create(ctx: &mut Ctx, f: &Fixture) -> Step<Judged> {
    ctx.created_id(&f.patient()).await?;
    let first = last_id(ctx);
    let cond = format!("identifier=urn:emr-harness:certify|{}", f.identifier());
    let a = ctx
        .send(
            "POST",
            "Patient",
            &[("If-None-Exist", cond.as_str())],
            Some(&f.patient()),
        )
        .await?;
    if a.status() == 201 {
        let extra = a.id();
        if !extra.is_empty() {
            ctx.created.push(format!("Patient/{extra}"));
        }
        return fail("answered 201: a second Patient was created although one matched");
    }
    expect_status(&a, "the conditional create", &[200])?;
    let named = a.id();
    let loc = location_id(a.header("location"), "Patient").unwrap_or_default();
    if named != first && loc != first {
        return fail(format!(
            "answered 200 but names {named:?}/{loc:?}, not the existing {first:?}"
        ));
    }
    pass("200 with the existing resource; nothing created")
}

pub(super) async fn not_found(ctx: &mut Ctx, f: &Fixture) -> Step<Judged> {
    let a = read_unknown(ctx, f).await?;
    expect_status(&a, "a read of an unknown id", &[404])?;
    pass("404")
}

pub(super) async fn operation_outcome(ctx: &mut Ctx, f: &Fixture) -> Step<Judged> {
    let missing = read_unknown(ctx, f).await?;
    let mut bad = f.patient();
    bad["birthDate"] = json!("not-a-date");
    let invalid = ctx.send("POST", "Patient", &[], Some(&bad)).await?;
    if (200..300).contains(&invalid.status()) {
        let id = invalid.id();
        if !id.is_empty() {
            ctx.created.push(format!("Patient/{id}"));
        }
    }
    // A stale If-Match (412) and a read after delete (410), when the server has them.
    let id = ctx.created_id(&f.patient()).await?;
    let mut stale = f.patient();
    stale["id"] = json!(id);
    let conflict = ctx
        .send(
            "PUT",
            &format!("Patient/{id}"),
            &[("If-Match", "W/\"999999\"")],
            Some(&stale),
        )
        .await?;
    let deleted = ctx
        .send("DELETE", &format!("Patient/{id}"), &[], None)
        .await?;
    let gone = if (200..300).contains(&deleted.status()) {
        Some(ctx.send("GET", &format!("Patient/{id}"), &[], None).await?)
    } else {
        None
    };
    let mut answers = vec![
        ("the 404 read", &missing),
        ("the invalid create", &invalid),
        ("the stale If-Match update", &conflict),
    ];
    if let Some(g) = &gone {
        answers.push(("the read after delete", g));
    }
    let mut wrong = Vec::new();
    for (what, a) in &answers {
        if a.status() >= 400 && !is_operation_outcome(a.body()) {
            wrong.push(format!(
                "{what} ({}) has no OperationOutcome body",
                a.status()
            ));
        }
    }
    let errors = answers.iter().filter(|(_, a)| a.status() >= 400).count();
    if errors == 0 {
        return Err(Stop::Fail(
            "neither request was answered with an error to look at".into(),
        ));
    }
    if wrong.is_empty() {
        pass(format!(
            "{errors} error answer(s), each with an OperationOutcome"
        ))
    } else {
        fail(wrong.join("; "))
    }
}

pub(super) async fn accept_json(ctx: &mut Ctx, f: &Fixture) -> Step<Judged> {
    let id = ctx.created_id(&f.patient()).await?;
    let a = ctx
        .send(
            "GET",
            &format!("Patient/{id}"),
            &[("Accept", JSON_TYPE)],
            None,
        )
        .await?;
    expect_status(&a, "the read", &[200])?;
    let ct = a.header("content-type").unwrap_or_default();
    if ct.starts_with(JSON_TYPE) && a.json.is_some() {
        pass(format!("Content-Type: {ct}"))
    } else {
        fail(format!("Content-Type {ct:?}"))
    }
}

pub(super) async fn format_param(ctx: &mut Ctx, f: &Fixture) -> Step<Judged> {
    let id = ctx.created_id(&f.patient()).await?;
    let a = ctx
        .send(
            "GET",
            &format!("Patient/{id}?_format=json"),
            &[("Accept", "*/*")],
            None,
        )
        .await?;
    expect_status(&a, "the read", &[200])?;
    let ct = a.header("content-type").unwrap_or_default();
    if a.json.is_some() && ct.contains("json") {
        pass(format!("JSON, Content-Type: {ct}"))
    } else {
        fail(format!(
            "Content-Type {ct:?}, body JSON: {}",
            a.json.is_some()
        ))
    }
}

pub(super) async fn prefer_minimal(ctx: &mut Ctx, f: &Fixture) -> Step<Judged> {
    let a = ctx
        .create(&f.patient(), &[("Prefer", "return=minimal")])
        .await?;
    if a.resp.body.iter().all(u8::is_ascii_whitespace) {
        pass(format!("{} with an empty body", a.status()))
    } else {
        fail(format!(
            "{} with a {}-byte body",
            a.status(),
            a.resp.body.len()
        ))
    }
}

pub(super) async fn prefer_representation(ctx: &mut Ctx, f: &Fixture) -> Step<Judged> {
    let a = ctx
        .create(&f.patient(), &[("Prefer", "return=representation")])
        .await?;
    valid(&a, "Patient", "the body")?;
    pass("the created Patient, valid")
}
