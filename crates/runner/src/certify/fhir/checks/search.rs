//! Search (search.html): each declared parameter with a value that must match and one that must
//! not, paging, _summary=count, _elements, the searchset Bundle, _include and _revinclude.

use serde_json::Value;

use super::super::exchange::*;
use super::super::fixtures::*;

pub(super) async fn paging(ctx: &mut Ctx, f: &Fixture) -> Step<Judged> {
    for _ in 0..3 {
        ctx.created_id(&f.patient()).await?;
    }
    let q = format!(
        "Patient?identifier=urn:emr-harness:certify|{}&_count=2",
        f.identifier()
    );
    let a = ctx.send("GET", &q, &[], None).await?;
    expect_status(&a, "the search", &[200])?;
    let first = entry_ids(a.body(), "Patient").len();
    if first > 2 {
        return fail(format!("_count=2 gave {first} entries"));
    }
    let Some(next) = link(a.body(), "next") else {
        return fail("3 matches, _count=2, and no next link");
    };
    let b = ctx.send("GET", &next, &[], None).await?;
    expect_status(&b, "the next page", &[200])?;
    let second = entry_ids(b.body(), "Patient").len();
    if first + second != 3 {
        return fail(format!("pages of {first} and {second}, expected 3 in all"));
    }
    pass(format!("pages of {first} and {second} via the next link"))
}

pub(super) async fn summary_count(ctx: &mut Ctx, f: &Fixture) -> Step<Judged> {
    ctx.created_id(&f.patient()).await?;
    let q = format!(
        "Patient?identifier=urn:emr-harness:certify|{}&_summary=count",
        f.identifier()
    );
    let a = ctx.send("GET", &q, &[], None).await?;
    expect_status(&a, "the search", &[200])?;
    let total = a.body().get("total").and_then(Value::as_u64);
    let n = entries(a.body()).len();
    match total {
        Some(1) if n == 0 => pass("total 1, no entries"),
        _ => fail(format!(
            "total {total:?} with {n} entries; expected total 1 and none"
        )),
    }
}

pub(super) async fn elements(ctx: &mut Ctx, f: &Fixture) -> Step<Judged> {
    ctx.created_id(&f.patient()).await?;
    let q = format!(
        "Patient?identifier=urn:emr-harness:certify|{}&_elements=identifier",
        f.identifier()
    );
    let a = ctx.send("GET", &q, &[], None).await?;
    expect_status(&a, "the search", &[200])?;
    let e = entries(a.body());
    let Some(r) = e.first().and_then(|e| e.get("resource")) else {
        return fail("no entry for the matching Patient");
    };
    let extra: Vec<&String> = r
        .as_object()
        .map(|o| {
            o.keys()
                .filter(|k| {
                    ![
                        "resourceType",
                        "id",
                        "meta",
                        "identifier",
                        "implicitRules",
                        "modifierExtension",
                    ]
                    .contains(&k.as_str())
                })
                .collect()
        })
        .unwrap_or_default();
    if r.get("identifier").is_none() {
        return fail("the element asked for (identifier) is missing");
    }
    if extra.is_empty() {
        pass("only identifier (and id, meta) returned")
    } else {
        fail(format!("elements not asked for were returned: {extra:?}"))
    }
}

pub(super) async fn search_bundle(ctx: &mut Ctx, f: &Fixture) -> Step<Judged> {
    let id = ctx.created_id(&f.patient()).await?;
    let q = format!(
        "Patient?identifier=urn:emr-harness:certify|{}",
        f.identifier()
    );
    let a = ctx.send("GET", &q, &[], None).await?;
    expect_status(&a, "the search", &[200])?;
    let b = a.body();
    let mut wrong = Vec::new();
    if b.get("type").and_then(Value::as_str) != Some("searchset") {
        wrong.push(format!("Bundle.type is {:?}", b.get("type")));
    }
    match b.get("total").and_then(Value::as_u64) {
        Some(1) => {}
        other => wrong.push(format!("Bundle.total is {other:?}, expected 1")),
    }
    let matches: Vec<&Value> = entries(b)
        .into_iter()
        .filter(|e| e.pointer("/resource/id").and_then(Value::as_str) == Some(id.as_str()))
        .collect();
    match matches.first() {
        None => wrong.push("the matching Patient is not in the entries".into()),
        Some(e) if e.pointer("/search/mode").and_then(Value::as_str) != Some("match") => wrong
            .push(format!(
                "search.mode is {:?}, expected match",
                e.pointer("/search/mode")
            )),
        Some(_) => {}
    }
    if wrong.is_empty() {
        pass("searchset, total 1, search.mode match")
    } else {
        fail(wrong.join("; "))
    }
}

pub(super) async fn include(ctx: &mut Ctx, f: &Fixture, include: bool) -> Step<Judged> {
    let pid = ctx.created_id(&f.patient()).await?;
    let oid = ctx
        .created_id(&f.observation(Some(&format!("Patient/{pid}"))))
        .await?;
    let (query, t, id) = if include {
        let q = format!("Observation?_id={oid}&_include=Observation:subject");
        (q, "Patient", pid)
    } else {
        let q = format!("Patient?_id={pid}&_revinclude=Observation:subject");
        (q, "Observation", oid)
    };
    let a = ctx.send("GET", &query, &[], None).await?;
    expect_status(&a, "the search", &[200])?;
    included(a.body(), t, &id)
}

pub(super) async fn search_param(ctx: &mut Ctx, t: &str, param: &str, f: &Fixture) -> Step<Judged> {
    let Some((hit, miss)) = search_values(t, param, f) else {
        return Err(Stop::Error(format!("no test value for {param}")));
    };
    let r = resource_for(ctx, t, f).await?;
    let id = ctx.created_id(&r).await?;
    let patient = ctx
        .created
        .iter()
        .find_map(|c| c.strip_prefix("Patient/"))
        .unwrap_or_default()
        .to_string();
    let fill = |v: String| v.replace("{id}", &id).replace("{patient}", &patient);
    let (hit, miss) = (fill(hit), fill(miss));
    let enc = |v: &str| {
        percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let query = |value: &str| {
        if param == "_id" {
            format!("{t}?_id={}", enc(value))
        } else {
            format!("{t}?_id={}&{param}={}", enc(&id), enc(value))
        }
    };
    let yes = ctx.send("GET", &query(&hit), &[], None).await?;
    expect_status(&yes, &format!("{param}={hit}"), &[200])?;
    let no = ctx.send("GET", &query(&miss), &[], None).await?;
    expect_status(&no, &format!("{param}={miss}"), &[200])?;
    let found = entry_ids(yes.body(), t).contains(&id.as_str());
    let wrongly = entry_ids(no.body(), t).contains(&id.as_str());
    match (found, wrongly) {
        (true, false) => pass(format!("{param}={hit} finds it; {param}={miss} does not")),
        (false, _) => fail(format!(
            "{param}={hit} does not find the resource that has it"
        )),
        (true, true) => fail(format!(
            "{param}={miss} also finds it: the parameter is ignored or matches too much"
        )),
    }
}

pub(super) fn link(bundle: &Value, relation: &str) -> Option<String> {
    bundle
        .get("link")
        .and_then(Value::as_array)?
        .iter()
        .find(|l| l.get("relation").and_then(Value::as_str) == Some(relation))
        .and_then(|l| l.get("url").and_then(Value::as_str))
        .map(str::to_string)
}

pub(super) fn included(bundle: &Value, t: &str, id: &str) -> Step<Judged> {
    let found = entries(bundle).into_iter().find(|e| {
        e.pointer("/resource/resourceType").and_then(Value::as_str) == Some(t)
            && e.pointer("/resource/id").and_then(Value::as_str) == Some(id)
    });
    match found {
        None => fail(format!("{t}/{id} is not in the Bundle")),
        Some(e) => match e.pointer("/search/mode").and_then(Value::as_str) {
            Some("include") => pass(format!("{t}/{id} included with search.mode include")),
            other => fail(format!(
                "{t}/{id} is there with search.mode {other:?}, expected include"
            )),
        },
    }
}
