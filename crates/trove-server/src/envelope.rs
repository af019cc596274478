//! Response envelopes and list paging: list `{items, nextCursor}`, detail `{item}`, mutation
//! `{ok: true, item}`.

use serde::{Deserialize, Serialize};
use trove_core::AppError;
use trove_core::page::{DEFAULT_LIMIT, MAX_LIMIT};
use trove_store::PageRequest;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A page of a list.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct List<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` at the end.
    pub next_cursor: Option<String>,
}

/// One resource.
#[derive(Debug, Serialize, ToSchema)]
pub struct Item<T> {
    /// The resource.
    pub item: T,
}

/// The result of a change.
#[derive(Debug, Serialize, ToSchema)]
pub struct Mutation<T> {
    /// Always `true`.
    pub ok: bool,
    /// The resource after the change.
    pub item: T,
}

impl<T> Mutation<T> {
    /// A successful change.
    pub fn ok(item: T) -> axum::Json<Self> {
        axum::Json(Self { ok: true, item })
    }
}

/// What a delete reports.
#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    /// The id of the resource that is gone.
    pub id: String,
}

/// `limit` and `cursor` of every list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    /// Page size, 1-200 (default 50).
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageParams {
    /// Validates the parameters; `parse_cursor` turns a cursor (a prefixed id) into the row's UUID.
    pub fn request<F>(&self, parse_cursor: F) -> Result<PageRequest, AppError>
    where
        F: Fn(&str) -> Option<Uuid>,
    {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(AppError::invalid(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let after = match &self.cursor {
            None => None,
            Some(c) if c.is_empty() => None,
            Some(c) => Some(parse_cursor(c).ok_or_else(|| {
                AppError::invalid(
                    "cursor",
                    "not a cursor returned by this list; start again without it",
                )
            })?),
        };
        Ok(PageRequest { limit, after })
    }

    /// Validates the parameters of a list keyed by a typed id.
    pub fn for_id<I>(&self) -> Result<PageRequest, AppError>
    where
        I: std::str::FromStr + Into<Uuid>,
    {
        self.request(|c| c.parse::<I>().ok().map(Into::into))
    }
}

/// Builds the list envelope from `limit + 1` fetched rows.
pub fn list<T>(
    rows: Vec<T>,
    page: PageRequest,
    cursor_of: impl Fn(&T) -> String,
) -> axum::Json<List<T>> {
    let p = trove_core::page::Page::from_overfetch(rows, page.limit, cursor_of);
    axum::Json(List {
        items: p.items,
        next_cursor: p.next_cursor,
    })
}
