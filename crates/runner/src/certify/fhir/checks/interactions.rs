//! The interactions a resource type declares: create, read, vread, update, patch, delete,
//! and instance and type history. Each creates its own data and judges one interaction.

use serde_json::{json, Value};

use super::super::exchange::*;
use super::super::fixtures::*;

pub(super) async fn create(ctx: &mut Ctx, f: &Fixture, t: &str) -> Step<Judged> {
    let r = resource_for(ctx, t, f).await?;
    let a = ctx.create(&r, &[]).await?;
    pass(format!("answered {}", a.status()))
}

pub(super) async fn read(ctx: &mut Ctx, f: &Fixture, t: &str) -> Step<Judged> {
    let r = resource_for(ctx, t, f).await?;
    let id = ctx.created_id(&r).await?;
    let a = ctx.send("GET", &format!("{t}/{id}"), &[], None).await?;
    expect_status(&a, "the read", &[200])?;
    valid(&a, t, "the body")?;
    if a.id() != id {
        return fail(format!("the read returned id {:?}, not {id:?}", a.id()));
    }
    pass("200 with the resource, valid")
}

pub(super) async fn vread(ctx: &mut Ctx, f: &Fixture, t: &str) -> Step<Judged> {
    let r = resource_for(ctx, t, f).await?;
    let created = ctx.create(&r, &[]).await?;
    let id = last_id(ctx);
    let vid = match version_of(&created) {
        v if !v.is_empty() => v,
        _ => "1".to_string(),
    };
    let a = ctx
        .send("GET", &format!("{t}/{id}/_history/{vid}"), &[], None)
        .await?;
    expect_status(&a, "the vread", &[200])?;
    valid(&a, t, "the body")?;
    if version_of(&a) != vid {
        return fail(format!(
            "meta.versionId is {:?}, expected {vid:?}",
            version_of(&a)
        ));
    }
    pass(format!("version {vid} returned"))
}

pub(super) async fn update(ctx: &mut Ctx, f: &Fixture, t: &str) -> Step<Judged> {
    let mut r = resource_for(ctx, t, f).await?;
    let created = ctx.create(&r, &[]).await?;
    let id = last_id(ctx);
    let before = version_of(&created);
    r["id"] = json!(id);
    change(&mut r);
    let a = ctx.send("PUT", &format!("{t}/{id}"), &[], Some(&r)).await?;
    expect_status(&a, "the update", &[200])?;
    let read = ctx.send("GET", &format!("{t}/{id}"), &[], None).await?;
    expect_status(&read, "the read after the update", &[200])?;
    if !changed(read.body()) {
        return fail("the read after the update does not show the change");
    }
    let after = version_of(&read);
    if !before.is_empty() && after == before {
        return fail(format!("meta.versionId stayed {before:?} after the update"));
    }
    pass(format!("200; version {before} → {after}"))
}

pub(super) async fn patch(ctx: &mut Ctx, f: &Fixture, t: &str) -> Step<Judged> {
    let r = resource_for(ctx, t, f).await?;
    let id = ctx.created_id(&r).await?;
    let (key, value) = edit(t);
    let ops = json!([{"op": "add", "path": format!("/{key}"), "value": value}]);
    let a = ctx
        .send(
            "PATCH",
            &format!("{t}/{id}"),
            &[("Content-Type", "application/json-patch+json")],
            Some(&ops),
        )
        .await?;
    expect_status(&a, "the patch", &[200])?;
    let read = ctx.send("GET", &format!("{t}/{id}"), &[], None).await?;
    if read.body().get(key) != Some(&value) {
        return fail(format!(
            "after the patch {key} is {:?}",
            read.body().get(key)
        ));
    }
    pass("200 and the change is visible")
}

pub(super) async fn delete(ctx: &mut Ctx, f: &Fixture, t: &str) -> Step<Judged> {
    let r = resource_for(ctx, t, f).await?;
    let id = ctx.created_id(&r).await?;
    let a = ctx.send("DELETE", &format!("{t}/{id}"), &[], None).await?;
    expect_status(&a, "the delete", &[200, 202, 204])?;
    let read = ctx.send("GET", &format!("{t}/{id}"), &[], None).await?;
    match read.status() {
        410 => pass(format!("{} then 410 Gone on read", a.status())),
        404 => pass(format!(
            "{} then 404 on read (allowed; 410 tells clients it was deleted)",
            a.status()
        )),
        s => fail(format!(
            "the read after the delete answered {s}, expected 410 (or 404)"
        )),
    }
}

pub(super) async fn history_instance(ctx: &mut Ctx, f: &Fixture, t: &str) -> Step<Judged> {
    let mut r = resource_for(ctx, t, f).await?;
    let id = ctx.created_id(&r).await?;
    r["id"] = json!(id);
    change(&mut r);
    let u = ctx.send("PUT", &format!("{t}/{id}"), &[], Some(&r)).await?;
    expect_status(&u, "the update", &[200, 201])?;
    let h = ctx
        .send("GET", &format!("{t}/{id}/_history"), &[], None)
        .await?;
    expect_status(&h, "the history", &[200])?;
    let b = h.body();
    if b.get("type").and_then(Value::as_str) != Some("history") {
        return fail(format!(
            "Bundle.type is {:?}, expected history",
            b.get("type")
        ));
    }
    let n = entries(b).len();
    if n < 2 {
        return fail(format!(
            "{n} entries after a create and an update, expected 2"
        ));
    }
    pass(format!("history Bundle with {n} versions"))
}

pub(super) async fn history_type(ctx: &mut Ctx, f: &Fixture, t: &str) -> Step<Judged> {
    let r = resource_for(ctx, t, f).await?;
    ctx.created_id(&r).await?;
    let h = ctx
        .send("GET", &format!("{t}/_history?_count=5"), &[], None)
        .await?;
    expect_status(&h, "the type history", &[200])?;
    let ty = h.body().get("type").and_then(Value::as_str);
    if ty != Some("history") {
        return fail(format!("Bundle.type is {ty:?}, expected history"));
    }
    if entries(h.body()).is_empty() {
        return fail("no entries right after a create");
    }
    pass("history Bundle with entries")
}
