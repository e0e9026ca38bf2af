//! The checks, one function per kind, grouped by the part of the specification they test. Each
//! returns its verdict as data; `run_check` picks the function for a planned kind.

mod bundles;
mod interactions;
mod rules;
mod search;
mod validation;

use super::exchange::{Ctx, Judged, Step};
use super::plan::Kind;

pub(super) async fn run_check(ctx: &mut Ctx, kind: &Kind) -> Step<Judged> {
    let f = ctx.fixture();
    match kind {
        Kind::Create(t) => interactions::create(ctx, &f, t).await,
        Kind::Read(t) => interactions::read(ctx, &f, t).await,
        Kind::Vread(t) => interactions::vread(ctx, &f, t).await,
        Kind::Update(t) => interactions::update(ctx, &f, t).await,
        Kind::Patch(t) => interactions::patch(ctx, &f, t).await,
        Kind::Delete(t) => interactions::delete(ctx, &f, t).await,
        Kind::HistoryInstance(t) => interactions::history_instance(ctx, &f, t).await,
        Kind::HistoryType(t) => interactions::history_type(ctx, &f, t).await,
        Kind::Search(t, param) => search::search_param(ctx, t, param, &f).await,
        Kind::Status201 => rules::status_201(ctx, &f).await,
        Kind::Location => rules::location(ctx, &f).await,
        Kind::Etag => rules::etag(ctx, &f).await,
        Kind::IfMatch => rules::if_match(ctx, &f).await,
        Kind::ConditionalCreate => rules::conditional_create(ctx, &f).await,
        Kind::NotFound => rules::not_found(ctx, &f).await,
        Kind::OperationOutcome => rules::operation_outcome(ctx, &f).await,
        Kind::AcceptJson => rules::accept_json(ctx, &f).await,
        Kind::FormatParam => rules::format_param(ctx, &f).await,
        Kind::PreferMinimal => rules::prefer_minimal(ctx, &f).await,
        Kind::PreferRepresentation => rules::prefer_representation(ctx, &f).await,
        Kind::Paging => search::paging(ctx, &f).await,
        Kind::SummaryCount => search::summary_count(ctx, &f).await,
        Kind::Elements => search::elements(ctx, &f).await,
        Kind::SearchBundle => search::search_bundle(ctx, &f).await,
        Kind::Include | Kind::RevInclude => {
            search::include(ctx, &f, matches!(kind, Kind::Include)).await
        }
        Kind::Transaction | Kind::Batch => {
            bundles::transaction_or_batch(ctx, &f, matches!(kind, Kind::Transaction)).await
        }
        Kind::RejectsInvalid => validation::rejects_invalid(ctx, &f).await,
        Kind::RequiredBinding => validation::required_binding(ctx, &f).await,
    }
}
