//! One table-driven authorization test over every route of the OpenAPI document.
//!
//! Each route has a policy; each caller category has an expected outcome under that policy. For every
//! (route, caller) pair the test builds fresh resources, sets up the caller's grant, sends the request
//! and checks the status (and, for 403s, which permission the body says is missing). A route of the
//! OpenAPI document that is missing from the table fails the test, and so does a table row that is not
//! in the document.

mod common;
mod gitrepo;

use std::collections::BTreeSet;

use futures_util::StreamExt as _;
use reqwest::Method;
use serde_json::{Value, json};
use trove_testkit::{TestDb, TestServer, backend_tests, bootstrap};

backend_tests!(every_route_enforces_its_policy);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    Viewer,
    Editor,
    Manager,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Manager => "manager",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Object,
    Plugin,
    Marketplace,
    /// A connector instance (no inheritance from marketplaces).
    Instance,
}

/// Who may call a route.
#[derive(Debug, Clone, Copy)]
enum Policy {
    /// Anyone, even without credentials.
    Public,
    /// Authenticated by a signature over the request body, never by a token or cookie: every
    /// caller, whatever credentials it holds, is refused without one.
    Signed,
    /// Any authenticated caller.
    Authed,
    /// A GitHub App route for org admins. This server has no App, so a caller who passes
    /// authorization gets 409 `github_not_configured` (`github_install.rs` tests the flows).
    GitHubAdmin,
    /// A GitHub App route for any authenticated caller (the App's setup callback), as above.
    GitHubAuthed,
    /// Any member of the org.
    Member,
    /// Org owners and admins.
    Admin,
    /// At least this role on the fixture resource of this kind.
    Res(Kind, Role),
}

#[derive(Debug, Clone, Copy)]
enum Caller {
    Anonymous,
    OtherOrgAdmin,
    Owner,
    Admin,
    Member,
    Direct(Role),
    Team(Role),
    OrgWide(Role),
    ViaActiveMarketplace,
    ViaArchivedMarketplace,
}

const CALLERS: [Caller; 16] = [
    Caller::Anonymous,
    Caller::OtherOrgAdmin,
    Caller::Owner,
    Caller::Admin,
    Caller::Member,
    Caller::Direct(Role::Viewer),
    Caller::Direct(Role::Editor),
    Caller::Direct(Role::Manager),
    Caller::Team(Role::Viewer),
    Caller::Team(Role::Editor),
    Caller::Team(Role::Manager),
    Caller::OrgWide(Role::Viewer),
    Caller::OrgWide(Role::Editor),
    Caller::OrgWide(Role::Manager),
    Caller::ViaActiveMarketplace,
    Caller::ViaArchivedMarketplace,
];

/// The outcome a (policy, caller) pair must give.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    Success,
    Status(u16, &'static str),
}

fn expect(policy: Policy, caller: Caller) -> Expect {
    use Caller as C;
    let missing_org = Expect::Status(403, "missing_org_capability");
    let missing_res = Expect::Status(403, "missing_resource_access");
    let unconfigured = |outcome| match outcome {
        Expect::Success => Expect::Status(409, "github_not_configured"),
        refused => refused,
    };
    match (policy, caller) {
        (Policy::GitHubAdmin, c) => unconfigured(expect(Policy::Admin, c)),
        (Policy::GitHubAuthed, c) => unconfigured(expect(Policy::Authed, c)),
        (Policy::Public, _) => Expect::Success,
        (Policy::Signed, _) => Expect::Status(401, "missing signature"),
        (_, C::Anonymous) => Expect::Status(401, "unauthorized"),
        (Policy::Authed, _) => Expect::Success,
        (_, C::OtherOrgAdmin) => Expect::Status(404, "not_found"),
        (Policy::Member, _) => Expect::Success,
        (_, C::Owner | C::Admin) => Expect::Success,
        (Policy::Admin, _) => missing_org,
        (Policy::Res(..), C::Member) => missing_res,
        (Policy::Res(_, min), C::Direct(r) | C::Team(r) | C::OrgWide(r)) => {
            if r >= min {
                Expect::Success
            } else {
                missing_res
            }
        }
        (Policy::Res(kind, min), C::ViaActiveMarketplace) => {
            if min == Role::Viewer && !matches!(kind, Kind::Marketplace | Kind::Instance) {
                Expect::Success
            } else {
                missing_res
            }
        }
        (Policy::Res(..), C::ViaArchivedMarketplace) => missing_res,
    }
}

/// One row of the table.
struct Route {
    method: &'static str,
    path: &'static str,
    policy: Policy,
    /// The JSON body, with `{placeholders}` filled from the fixture.
    body: Option<&'static str>,
    /// The type of `{object}` for typed views.
    object_type: &'static str,
}

const fn r(
    method: &'static str,
    path: &'static str,
    policy: Policy,
    body: Option<&'static str>,
) -> Route {
    Route {
        method,
        path,
        policy,
        body,
        object_type: "skill",
    }
}

const fn typed(
    method: &'static str,
    path: &'static str,
    policy: Policy,
    body: Option<&'static str>,
    t: &'static str,
) -> Route {
    Route {
        method,
        path,
        policy,
        body,
        object_type: t,
    }
}

use Kind::{Instance as I, Marketplace as M, Object as O, Plugin as P};
use Policy::{
    Admin as ADMIN, Authed as AUTHED, GitHubAdmin as GH_ADMIN, GitHubAuthed as GH_AUTHED,
    Member as MEMBER, Public as PUBLIC, Res, Signed as SIGNED,
};
use Role::{Editor as ED, Manager as MG, Viewer as VW};

const SKILL: &str = r#"{"input": {"rawSourceText": "---\nname: authz-skill\ndescription: An authorization test skill\n---\nBody {uniq}\n"}}"#;
const SKILL_NEW: &str = r#"{"type": "skill", "input": {"rawSourceText": "---\nname: new-skill\ndescription: Created in the test\n---\nBody {uniq}\n"}}"#;
const AGENT: &str = r#"{"input": {"rawSourceText": "---\nname: authz-agent\ndescription: Reviews code\n---\nYou review {uniq}.\n"}}"#;
const COMMAND: &str = r#"{"input": {"path": "deploy.md", "rawSourceText": "---\ndescription: Deploys {uniq}\n---\nDeploy it\n"}}"#;
const HOOK: &str = r#"{"input": {"normalizedPayload": {"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "echo {uniq}"}]}]}}}}"#;
const MCP: &str =
    r#"{"input": {"normalizedPayload": {"mcpServers": {"srv{uniq}": {"command": "server"}}}}}"#;
const LSP: &str = r#"{"input": {"normalizedPayload": {"lspServers": {"rust{uniq}": {"command": "rust-analyzer", "extensionToLanguage": {".rs": "rust"}}}}}}"#;
const GRANT: &str = r#"{"orgMembershipId": "{third}", "role": "viewer"}"#;

const ROUTES: &[Route] = &[
    r("GET", "/healthz", PUBLIC, None),
    r("GET", "/readyz", PUBLIC, None),
    r("GET", "/metrics", PUBLIC, None),
    r(
        "POST",
        "/v1/auth/login",
        PUBLIC,
        Some(r#"{"email": "owner@acme.test", "password": "correct horse battery"}"#),
    ),
    r("POST", "/v1/auth/logout", PUBLIC, None),
    r("GET", "/v1/me", AUTHED, None),
    r("GET", "/v1/orgs", AUTHED, None),
    r(
        "POST",
        "/v1/orgs",
        AUTHED,
        Some(r#"{"slug": "org-{uniq}"}"#),
    ),
    r("GET", "/v1/orgs/{org}", MEMBER, None),
    r(
        "PATCH",
        "/v1/orgs/{org}",
        ADMIN,
        Some(r#"{"name": "Acme {uniq}"}"#),
    ),
    r("GET", "/v1/orgs/{org}/audit", ADMIN, None),
    r("GET", "/v1/orgs/{org}/members", MEMBER, None),
    r(
        "POST",
        "/v1/orgs/{org}/members",
        ADMIN,
        Some(r#"{"email": "new-{uniq}@acme.test"}"#),
    ),
    r("GET", "/v1/orgs/{org}/members/{member}", MEMBER, None),
    r(
        "PATCH",
        "/v1/orgs/{org}/members/{member}",
        ADMIN,
        Some(r#"{"role": "member"}"#),
    ),
    r("DELETE", "/v1/orgs/{org}/members/{member}", ADMIN, None),
    r("GET", "/v1/orgs/{org}/teams", MEMBER, None),
    r(
        "POST",
        "/v1/orgs/{org}/teams",
        ADMIN,
        Some(r#"{"name": "team {uniq}"}"#),
    ),
    r("GET", "/v1/orgs/{org}/teams/{team}", MEMBER, None),
    r(
        "PATCH",
        "/v1/orgs/{org}/teams/{team}",
        ADMIN,
        Some(r#"{"name": "renamed {uniq}"}"#),
    ),
    r("DELETE", "/v1/orgs/{org}/teams/{team}", ADMIN, None),
    r("GET", "/v1/orgs/{org}/teams/{team}/members", MEMBER, None),
    r(
        "POST",
        "/v1/orgs/{org}/teams/{team}/members",
        ADMIN,
        Some(r#"{"orgMembershipId": "{member}"}"#),
    ),
    r(
        "DELETE",
        "/v1/orgs/{org}/teams/{team}/members/{member}",
        ADMIN,
        None,
    ),
    r("GET", "/v1/orgs/{org}/tokens", MEMBER, None),
    r(
        "POST",
        "/v1/orgs/{org}/tokens",
        MEMBER,
        Some(r#"{"name": "t{uniq}"}"#),
    ),
    r("DELETE", "/v1/orgs/{org}/tokens/{token}", MEMBER, None),
    // Config objects.
    r("GET", "/v1/orgs/{org}/config-objects", MEMBER, None),
    r(
        "POST",
        "/v1/orgs/{org}/config-objects",
        MEMBER,
        Some(SKILL_NEW),
    ),
    r(
        "POST",
        "/v1/orgs/{org}/config-objects/validate",
        MEMBER,
        Some(SKILL_NEW),
    ),
    r(
        "GET",
        "/v1/orgs/{org}/config-objects/{object}",
        Res(O, VW),
        None,
    ),
    r(
        "GET",
        "/v1/orgs/{org}/config-objects/{object}/access",
        Res(O, MG),
        None,
    ),
    r(
        "POST",
        "/v1/orgs/{org}/config-objects/{object}/access",
        Res(O, MG),
        Some(GRANT),
    ),
    r(
        "DELETE",
        "/v1/orgs/{org}/config-objects/{object}/access/{grant}",
        Res(O, MG),
        None,
    ),
    r(
        "POST",
        "/v1/orgs/{org}/config-objects/{object}/archive",
        Res(O, MG),
        Some("{}"),
    ),
    r(
        "POST",
        "/v1/orgs/{org}/config-objects/{object}/delete",
        Res(O, MG),
        Some("{}"),
    ),
    r(
        "POST",
        "/v1/orgs/{org}/config-objects/{object}/restore",
        Res(O, MG),
        Some("{}"),
    ),
    r(
        "GET",
        "/v1/orgs/{org}/config-objects/{object}/plugins",
        Res(O, VW),
        None,
    ),
    r(
        "POST",
        "/v1/orgs/{org}/config-objects/{object}/plugins",
        Res(O, VW),
        Some(r#"{"pluginId": "{plugin2}"}"#),
    ),
    r(
        "DELETE",
        "/v1/orgs/{org}/config-objects/{object}/plugins/{plugin}",
        Res(P, ED),
        None,
    ),
    r(
        "GET",
        "/v1/orgs/{org}/config-objects/{object}/versions",
        Res(O, VW),
        None,
    ),
    r(
        "POST",
        "/v1/orgs/{org}/config-objects/{object}/versions",
        Res(O, ED),
        Some(SKILL),
    ),
    r(
        "GET",
        "/v1/orgs/{org}/config-objects/{object}/versions/compare",
        Res(O, VW),
        None,
    ),
    r(
        "GET",
        "/v1/orgs/{org}/config-objects/{object}/versions/latest",
        Res(O, VW),
        None,
    ),
    r(
        "GET",
        "/v1/orgs/{org}/config-objects/{object}/versions/{version}",
        Res(O, VW),
        None,
    ),
    // Typed views.
    typed("GET", "/v1/orgs/{org}/skills", MEMBER, None, "skill"),
    typed(
        "POST",
        "/v1/orgs/{org}/skills",
        MEMBER,
        Some(SKILL),
        "skill",
    ),
    typed(
        "POST",
        "/v1/orgs/{org}/skills/validate",
        MEMBER,
        Some(SKILL),
        "skill",
    ),
    typed(
        "GET",
        "/v1/orgs/{org}/skills/{object}",
        Res(O, VW),
        None,
        "skill",
    ),
    typed(
        "POST",
        "/v1/orgs/{org}/skills/{object}/versions",
        Res(O, ED),
        Some(SKILL),
        "skill",
    ),
    typed("GET", "/v1/orgs/{org}/agents", MEMBER, None, "agent"),
    typed(
        "POST",
        "/v1/orgs/{org}/agents",
        MEMBER,
        Some(AGENT),
        "agent",
    ),
    typed(
        "POST",
        "/v1/orgs/{org}/agents/validate",
        MEMBER,
        Some(AGENT),
        "agent",
    ),
    typed(
        "GET",
        "/v1/orgs/{org}/agents/{object}",
        Res(O, VW),
        None,
        "agent",
    ),
    typed(
        "POST",
        "/v1/orgs/{org}/agents/{object}/versions",
        Res(O, ED),
        Some(AGENT),
        "agent",
    ),
    typed("GET", "/v1/orgs/{org}/commands", MEMBER, None, "command"),
    typed(
        "POST",
        "/v1/orgs/{org}/commands",
        MEMBER,
        Some(COMMAND),
        "command",
    ),
    typed(
        "POST",
        "/v1/orgs/{org}/commands/validate",
        MEMBER,
        Some(COMMAND),
        "command",
    ),
    typed(
        "GET",
        "/v1/orgs/{org}/commands/{object}",
        Res(O, VW),
        None,
        "command",
    ),
    typed(
        "POST",
        "/v1/orgs/{org}/commands/{object}/versions",
        Res(O, ED),
        Some(COMMAND),
        "command",
    ),
    typed("GET", "/v1/orgs/{org}/hooks", MEMBER, None, "hook"),
    typed("POST", "/v1/orgs/{org}/hooks", MEMBER, Some(HOOK), "hook"),
    typed(
        "POST",
        "/v1/orgs/{org}/hooks/validate",
        MEMBER,
        Some(HOOK),
        "hook",
    ),
    typed(
        "GET",
        "/v1/orgs/{org}/hooks/{object}",
        Res(O, VW),
        None,
        "hook",
    ),
    typed(
        "POST",
        "/v1/orgs/{org}/hooks/{object}/versions",
        Res(O, ED),
        Some(HOOK),
        "hook",
    ),
    typed("GET", "/v1/orgs/{org}/mcps", MEMBER, None, "mcp"),
    typed("POST", "/v1/orgs/{org}/mcps", MEMBER, Some(MCP), "mcp"),
    typed(
        "POST",
        "/v1/orgs/{org}/mcps/validate",
        MEMBER,
        Some(MCP),
        "mcp",
    ),
    typed(
        "GET",
        "/v1/orgs/{org}/mcps/{object}",
        Res(O, VW),
        None,
        "mcp",
    ),
    typed(
        "POST",
        "/v1/orgs/{org}/mcps/{object}/versions",
        Res(O, ED),
        Some(MCP),
        "mcp",
    ),
    typed("GET", "/v1/orgs/{org}/lsps", MEMBER, None, "lsp"),
    typed("POST", "/v1/orgs/{org}/lsps", MEMBER, Some(LSP), "lsp"),
    typed(
        "POST",
        "/v1/orgs/{org}/lsps/validate",
        MEMBER,
        Some(LSP),
        "lsp",
    ),
    typed(
        "GET",
        "/v1/orgs/{org}/lsps/{object}",
        Res(O, VW),
        None,
        "lsp",
    ),
    typed(
        "POST",
        "/v1/orgs/{org}/lsps/{object}/versions",
        Res(O, ED),
        Some(LSP),
        "lsp",
    ),
    // Plugins.
    r("GET", "/v1/orgs/{org}/plugins", MEMBER, None),
    r(
        "POST",
        "/v1/orgs/{org}/plugins",
        MEMBER,
        Some(r#"{"name": "plugin-{uniq}"}"#),
    ),
    r("GET", "/v1/orgs/{org}/plugins/{plugin}", Res(P, VW), None),
    r(
        "PATCH",
        "/v1/orgs/{org}/plugins/{plugin}",
        Res(P, ED),
        Some(r#"{"description": "changed {uniq}"}"#),
    ),
    r(
        "DELETE",
        "/v1/orgs/{org}/plugins/{plugin}",
        Res(P, MG),
        None,
    ),
    r(
        "GET",
        "/v1/orgs/{org}/plugins/{plugin}/access",
        Res(P, MG),
        None,
    ),
    r(
        "POST",
        "/v1/orgs/{org}/plugins/{plugin}/access",
        Res(P, MG),
        Some(GRANT),
    ),
    r(
        "DELETE",
        "/v1/orgs/{org}/plugins/{plugin}/access/{grant}",
        Res(P, MG),
        None,
    ),
    r(
        "POST",
        "/v1/orgs/{org}/plugins/{plugin}/archive",
        Res(P, MG),
        Some("{}"),
    ),
    r(
        "POST",
        "/v1/orgs/{org}/plugins/{plugin}/restore",
        Res(P, MG),
        Some("{}"),
    ),
    r(
        "GET",
        "/v1/orgs/{org}/plugins/{plugin}/config-objects",
        Res(P, VW),
        None,
    ),
    r(
        "POST",
        "/v1/orgs/{org}/plugins/{plugin}/config-objects",
        Res(P, ED),
        Some(r#"{"configObjectId": "{object2}"}"#),
    ),
    r(
        "DELETE",
        "/v1/orgs/{org}/plugins/{plugin}/config-objects/{object}",
        Res(P, ED),
        None,
    ),
    r(
        "GET",
        "/v1/orgs/{org}/plugins/{plugin}/resolved",
        Res(P, VW),
        None,
    ),
    // Marketplaces.
    r("GET", "/v1/orgs/{org}/marketplaces", MEMBER, None),
    r(
        "POST",
        "/v1/orgs/{org}/marketplaces",
        MEMBER,
        Some(r#"{"name": "market-{uniq}"}"#),
    ),
    r(
        "GET",
        "/v1/orgs/{org}/marketplaces/{marketplace}",
        Res(M, VW),
        None,
    ),
    r(
        "PATCH",
        "/v1/orgs/{org}/marketplaces/{marketplace}",
        Res(M, ED),
        Some(r#"{"description": "changed {uniq}"}"#),
    ),
    r(
        "DELETE",
        "/v1/orgs/{org}/marketplaces/{marketplace}",
        Res(M, MG),
        None,
    ),
    r(
        "GET",
        "/v1/orgs/{org}/marketplaces/{marketplace}/access",
        Res(M, MG),
        None,
    ),
    r(
        "POST",
        "/v1/orgs/{org}/marketplaces/{marketplace}/access",
        Res(M, MG),
        Some(GRANT),
    ),
    r(
        "DELETE",
        "/v1/orgs/{org}/marketplaces/{marketplace}/access/{grant}",
        Res(M, MG),
        None,
    ),
    r(
        "POST",
        "/v1/orgs/{org}/marketplaces/{marketplace}/archive",
        Res(M, MG),
        Some("{}"),
    ),
    r(
        "POST",
        "/v1/orgs/{org}/marketplaces/{marketplace}/restore",
        Res(M, MG),
        Some("{}"),
    ),
    r(
        "PUT",
        "/v1/orgs/{org}/marketplaces/{marketplace}/order",
        Res(M, ED),
        Some(r#"{"pluginIds": ["{plugin}"]}"#),
    ),
    r(
        "GET",
        "/v1/orgs/{org}/marketplaces/{marketplace}/plugins",
        Res(M, VW),
        None,
    ),
    r(
        "POST",
        "/v1/orgs/{org}/marketplaces/{marketplace}/plugins",
        Res(M, ED),
        Some(r#"{"pluginId": "{plugin2}"}"#),
    ),
    r(
        "DELETE",
        "/v1/orgs/{org}/marketplaces/{marketplace}/plugins/{plugin}",
        Res(M, ED),
        None,
    ),
    r(
        "GET",
        "/v1/orgs/{org}/marketplaces/{marketplace}/resolved",
        Res(M, VW),
        None,
    ),
    // Connectors.
    r("GET", "/v1/orgs/{org}/connector-accounts", ADMIN, None),
    r(
        "POST",
        "/v1/orgs/{org}/connector-accounts",
        ADMIN,
        Some(r#"{"type": "git", "name": "acct {uniq}", "token": "tkn-{uniq}"}"#),
    ),
    r(
        "GET",
        "/v1/orgs/{org}/connector-accounts/{account}",
        ADMIN,
        None,
    ),
    r(
        "POST",
        "/v1/orgs/{org}/connector-accounts/{account}/disconnect",
        ADMIN,
        Some("{}"),
    ),
    r("GET", "/v1/orgs/{org}/connector-instances", MEMBER, None),
    r(
        "POST",
        "/v1/orgs/{org}/connector-instances",
        ADMIN,
        Some(r#"{"type": "git", "url": "{repo}", "name": "new {uniq}"}"#),
    ),
    r(
        "GET",
        "/v1/orgs/{org}/connector-instances/{instance}",
        Res(I, VW),
        None,
    ),
    r(
        "PATCH",
        "/v1/orgs/{org}/connector-instances/{instance}",
        Res(I, ED),
        Some(r#"{"config": {"note": "{uniq}"}}"#),
    ),
    r(
        "POST",
        "/v1/orgs/{org}/connector-instances/{instance}/disable",
        Res(I, MG),
        Some("{}"),
    ),
    r(
        "POST",
        "/v1/orgs/{org}/connector-instances/{instance}/enable",
        Res(I, MG),
        Some("{}"),
    ),
    r(
        "POST",
        "/v1/orgs/{org}/connector-instances/{instance}/remove",
        ADMIN,
        Some("{}"),
    ),
    r(
        "GET",
        "/v1/orgs/{org}/connector-instances/{instance}/targets",
        Res(I, VW),
        None,
    ),
    r(
        "GET",
        "/v1/orgs/{org}/connector-instances/{instance}/access",
        Res(I, MG),
        None,
    ),
    r(
        "POST",
        "/v1/orgs/{org}/connector-instances/{instance}/access",
        Res(I, MG),
        Some(GRANT),
    ),
    r(
        "DELETE",
        "/v1/orgs/{org}/connector-instances/{instance}/access/{grant}",
        Res(I, MG),
        None,
    ),
    r(
        "POST",
        "/v1/orgs/{org}/connector-instances/{instance}/sync",
        Res(I, ED),
        Some("{}"),
    ),
    r(
        "POST",
        "/v1/orgs/{org}/connector-instances/{instance}/auto-import",
        Res(I, ED),
        Some(r#"{"autoImport": true}"#),
    ),
    r(
        "GET",
        "/v1/orgs/{org}/connector-instances/{instance}/discovery",
        Res(I, VW),
        None,
    ),
    r(
        "GET",
        "/v1/orgs/{org}/connector-instances/{instance}/discovery/tree",
        Res(I, VW),
        None,
    ),
    r(
        "POST",
        "/v1/orgs/{org}/connector-instances/{instance}/discovery/apply",
        Res(I, ED),
        Some(r#"{"selectedKeys": [], "autoImport": false}"#),
    ),
    r(
        "GET",
        "/v1/orgs/{org}/connector-instances/{instance}/mappings",
        Res(I, VW),
        None,
    ),
    r(
        "POST",
        "/v1/orgs/{org}/connector-instances/{instance}/mappings",
        Res(I, ED),
        Some(r#"{"selector": "skills/**", "objectType": "skill"}"#),
    ),
    r(
        "POST",
        "/v1/orgs/{org}/connector-instances/{instance}/mappings/preview",
        Res(I, ED),
        Some(r#"{"selector": "skills/**"}"#),
    ),
    r(
        "PATCH",
        "/v1/orgs/{org}/connector-instances/{instance}/mappings/{mapping}",
        Res(I, ED),
        Some(r#"{"selector": "agents/**"}"#),
    ),
    r(
        "DELETE",
        "/v1/orgs/{org}/connector-instances/{instance}/mappings/{mapping}",
        Res(I, ED),
        None,
    ),
    r("GET", "/v1/orgs/{org}/connector-sync-events", MEMBER, None),
    r(
        "GET",
        "/v1/orgs/{org}/connector-sync-events/{event}",
        Res(I, VW),
        None,
    ),
    r(
        "POST",
        "/v1/orgs/{org}/connector-sync-events/{event}/retry",
        Res(I, ED),
        Some("{}"),
    ),
    // GitHub deliveries: the signature is the only credential (a token does not help).
    r(
        "POST",
        "/v1/webhooks/connectors/github",
        SIGNED,
        Some(r#"{"zen": "Keep it logically awesome."}"#),
    ),
    // The GitHub App: installing it, and an installation's repositories.
    r(
        "POST",
        "/v1/orgs/{org}/connectors/github/install/start",
        GH_ADMIN,
        Some("{}"),
    ),
    r(
        "POST",
        "/v1/orgs/{org}/connectors/github/install/complete",
        GH_ADMIN,
        Some(r#"{"state": "v1.e30.AAAA", "installationId": 1, "code": "c{uniq}"}"#),
    ),
    r("GET", "/v1/connectors/github/callback", GH_AUTHED, None),
    r(
        "GET",
        "/v1/orgs/{org}/connector-accounts/{account}/repositories",
        GH_ADMIN,
        None,
    ),
    r(
        "POST",
        "/v1/orgs/{org}/connector-accounts/{account}/validate-target",
        GH_ADMIN,
        Some(r#"{"repository": "acme/plugins"}"#),
    ),
    r(
        "POST",
        "/v1/orgs/{org}/connector-accounts/{account}/setup",
        GH_ADMIN,
        Some(r#"{"repository": "acme/plugins", "name": "gh {uniq}"}"#),
    ),
];

/// The people of the test org and their tokens.
struct People {
    owner: String,
    admin: String,
    member: String,
    /// The member who receives the grants of the grant categories.
    x: String,
    x_membership: String,
    /// A team whose only member is `x`.
    x_team: String,
    /// A member used as the grantee of `{grant}` and access bodies.
    third: String,
    other_org_admin: String,
    /// A `file://` git repository connector instances are created on (one per test).
    repo: String,
    _repo_dir: tempfile::TempDir,
    store: trove_store::Store,
}

async fn people(db: &TestDb, s: &TestServer) -> People {
    let org = bootstrap(&db.store, "acme", "owner@acme.test").await;
    let other = bootstrap(&db.store, "other", "boss@other.test").await;
    let w = common::World {
        server: TestServer::start(db.store.clone()).await,
        org,
    };
    let (_, admin) = w.member(db, "admin@acme.test", "admin").await;
    let (_, member) = w.member(db, "member@acme.test", "member").await;
    let (x_membership, x) = w.member(db, "x@acme.test", "member").await;
    let (third, _) = w.member(db, "third@acme.test", "member").await;
    let owner = w.org.owner_token.clone();
    let repo_dir = tempfile::tempdir().expect("repo dir");
    let team = s
        .post("/v1/orgs/acme/teams", &owner, json!({"name": "x-team"}))
        .await;
    let x_team = team.body["item"]["id"].as_str().unwrap().to_string();
    let added = s
        .post(
            &format!("/v1/orgs/acme/teams/{x_team}/members"),
            &owner,
            json!({"orgMembershipId": x_membership}),
        )
        .await;
    assert_eq!(added.status, 201);
    People {
        owner,
        admin,
        member,
        x,
        x_membership,
        x_team,
        third,
        other_org_admin: other.owner_token,
        repo: gitrepo::git_repo(&repo_dir),
        _repo_dir: repo_dir,
        store: db.store.clone(),
    }
}

fn id(reply: &trove_testkit::Reply) -> String {
    assert!(
        reply.status.is_success(),
        "fixture request failed: {} {:?}",
        reply.status,
        reply.body
    );
    reply.body["item"]["id"]
        .as_str()
        .expect("item.id")
        .to_string()
}

/// Fresh resources for one case, and the values of the placeholders.
struct Fixture {
    values: Vec<(&'static str, String)>,
}

impl Fixture {
    fn fill(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (name, value) in &self.values {
            out = out.replace(&format!("{{{name}}}"), value);
        }
        out
    }
}

fn body_for(object_type: &str) -> &'static str {
    match object_type {
        "agent" => AGENT,
        "command" => COMMAND,
        "hook" => HOOK,
        "mcp" => MCP,
        "lsp" => LSP,
        _ => SKILL,
    }
}

async fn fixture(s: &TestServer, p: &People, route: &Route, caller: Caller, n: usize) -> Fixture {
    let t = &p.owner;
    let uniq = n.to_string();
    let with_uniq =
        |body: &str| serde_json::from_str::<Value>(&body.replace("{uniq}", &uniq)).unwrap();
    let mut object_body = with_uniq(body_for(route.object_type));
    object_body["type"] = json!(route.object_type);
    let needs = |name: &str| {
        let key = format!("{{{name}}}");
        route.path.contains(&key) || route.body.is_some_and(|b| b.contains(&key))
    };
    let via = matches!(
        caller,
        Caller::ViaActiveMarketplace | Caller::ViaArchivedMarketplace
    );
    let resource_route = matches!(route.policy, Policy::Res(..));
    // Only what the route and the caller category need is created: every request here costs time.
    let object = id(&s.post("/v1/orgs/acme/config-objects", t, object_body).await);
    let need_plugin = needs("plugin") || needs("marketplace") || (via && resource_route);
    let plugin = if need_plugin {
        let plugin = id(&s
            .post("/v1/orgs/acme/plugins", t, json!({"name": format!("p{n}")}))
            .await);
        id_ok(
            &s.post(
                &format!("/v1/orgs/acme/plugins/{plugin}/config-objects"),
                t,
                json!({"configObjectId": object}),
            )
            .await,
        );
        plugin
    } else {
        String::new()
    };
    let marketplace = if needs("marketplace") {
        let marketplace = id(&s
            .post(
                "/v1/orgs/acme/marketplaces",
                t,
                json!({"name": format!("m{n}")}),
            )
            .await);
        id_ok(
            &s.post(
                &format!("/v1/orgs/acme/marketplaces/{marketplace}/plugins"),
                t,
                json!({"pluginId": plugin}),
            )
            .await,
        );
        marketplace
    } else {
        String::new()
    };
    let mut values = vec![
        ("org", "acme".to_string()),
        ("uniq", uniq.clone()),
        ("object", object.clone()),
        ("plugin", plugin.clone()),
        ("marketplace", marketplace.clone()),
        ("third", p.third.clone()),
        ("repo", p.repo.clone()),
    ];
    let instance = if needs("instance") || needs("event") {
        let created = s
            .post(
                "/v1/orgs/acme/connector-instances",
                t,
                json!({"type": "git", "url": p.repo, "name": format!("i{n}")}),
            )
            .await;
        let instance = id(&created);
        let event = created.body["event"]["id"].as_str().unwrap().to_string();
        if route.path.ends_with("/retry") {
            // Only a finished event can be retried: finish the initial one as failed.
            gitrepo::fail_event(&p.store, &event).await;
        }
        values.push(("event", event));
        instance
    } else {
        String::new()
    };
    values.push(("instance", instance.clone()));
    if needs("mapping") {
        let m = id(&s
            .post(
                &format!("/v1/orgs/acme/connector-instances/{instance}/mappings"),
                t,
                json!({"selector": "skills/**", "objectType": "skill"}),
            )
            .await);
        values.push(("mapping", m));
    }
    if needs("account") {
        let a = id(&s
            .post(
                "/v1/orgs/acme/connector-accounts",
                t,
                json!({"type": "git", "name": format!("a{n}"), "token": "secret"}),
            )
            .await);
        values.push(("account", a));
    }
    let x_is_caller = matches!(
        caller,
        Caller::Direct(_)
            | Caller::Team(_)
            | Caller::OrgWide(_)
            | Caller::ViaActiveMarketplace
            | Caller::ViaArchivedMarketplace
            | Caller::Member
    );
    let caller_membership = if matches!(caller, Caller::Member) {
        None
    } else {
        Some(p.x_membership.clone())
    };
    if needs("plugin2") {
        let plugin2 = id(&s
            .post("/v1/orgs/acme/plugins", t, json!({"name": format!("q{n}")}))
            .await);
        // The second plugin is not under test: the caller gets what the route needs on it.
        if let Some(m) = caller_membership.as_ref().filter(|_| x_is_caller) {
            let role = if route.path.contains("/config-objects/{object}/plugins") {
                "editor"
            } else {
                "viewer"
            };
            id_ok(
                &s.post(
                    &format!("/v1/orgs/acme/plugins/{plugin2}/access"),
                    t,
                    json!({"orgMembershipId": m, "role": role}),
                )
                .await,
            );
        }
        values.push(("plugin2", plugin2));
    }
    if needs("object2") {
        let mut body = with_uniq(SKILL);
        body["type"] = json!("skill");
        let object2 = id(&s.post("/v1/orgs/acme/config-objects", t, body).await);
        if let Some(m) = caller_membership.as_ref().filter(|_| x_is_caller) {
            id_ok(
                &s.post(
                    &format!("/v1/orgs/acme/config-objects/{object2}/access"),
                    t,
                    json!({"orgMembershipId": m, "role": "viewer"}),
                )
                .await,
            );
        }
        values.push(("object2", object2));
    }
    if needs("version") {
        let versions = s
            .get(
                &format!("/v1/orgs/acme/config-objects/{object}/versions"),
                t,
            )
            .await;
        values.push((
            "version",
            versions.body["items"][0]["id"]
                .as_str()
                .unwrap()
                .to_string(),
        ));
    }
    if needs("grant") {
        let target = match route.policy {
            Policy::Res(Kind::Object, _) => format!("config-objects/{object}"),
            Policy::Res(Kind::Plugin, _) => format!("plugins/{plugin}"),
            Policy::Res(Kind::Instance, _) => format!("connector-instances/{instance}"),
            _ => format!("marketplaces/{marketplace}"),
        };
        let g = id(&s
            .post(
                &format!("/v1/orgs/acme/{target}/access"),
                t,
                json!({"orgMembershipId": p.third, "role": "viewer"}),
            )
            .await);
        values.push(("grant", g));
    }
    if needs("member") {
        let email = format!("target-{n}@acme.test");
        let m = id(&s
            .post("/v1/orgs/acme/members", t, json!({"email": email}))
            .await);
        values.push(("member", m));
    }
    if needs("team") {
        let team = id(&s
            .post(
                "/v1/orgs/acme/teams",
                t,
                json!({"name": format!("fixture team {n}")}),
            )
            .await);
        if route.method == "DELETE" && route.path.ends_with("/members/{member}") {
            let member = values
                .iter()
                .find(|(k, _)| *k == "member")
                .map(|(_, v)| v.clone())
                .unwrap();
            id_ok(
                &s.post(
                    &format!("/v1/orgs/acme/teams/{team}/members"),
                    t,
                    json!({"orgMembershipId": member}),
                )
                .await,
            );
        }
        values.push(("team", team));
    }
    if needs("token") {
        // A token of the caller's own, so revoking it does not lock the caller out.
        let caller_token = token_of(p, caller).unwrap_or(&p.owner);
        let created = s
            .post(
                "/v1/orgs/acme/tokens",
                caller_token,
                json!({"name": format!("doomed {n}")}),
            )
            .await;
        let tok = if created.status.is_success() {
            id(&created)
        } else {
            "tok_0190f3c2a1b27c4d8e9f0a1b2c3d4e5f".to_string()
        };
        values.push(("token", tok));
    }
    // The caller's grant on the resource under test.
    if let Policy::Res(kind, _) = route.policy {
        let target = match kind {
            Kind::Object => format!("config-objects/{object}"),
            Kind::Plugin => format!("plugins/{plugin}"),
            Kind::Marketplace => format!("marketplaces/{marketplace}"),
            Kind::Instance => format!("connector-instances/{instance}"),
        };
        let grant = match caller {
            Caller::Direct(role) => {
                Some(json!({"orgMembershipId": p.x_membership, "role": role.name()}))
            }
            Caller::Team(role) => Some(json!({"teamId": p.x_team, "role": role.name()})),
            Caller::OrgWide(role) => Some(json!({"orgWide": true, "role": role.name()})),
            _ => None,
        };
        if let Some(grant) = grant {
            id_ok(
                &s.post(&format!("/v1/orgs/acme/{target}/access"), t, grant)
                    .await,
            );
        }
        if matches!(
            caller,
            Caller::ViaActiveMarketplace | Caller::ViaArchivedMarketplace
        ) {
            let other = id(&s
                .post(
                    "/v1/orgs/acme/marketplaces",
                    t,
                    json!({"name": format!("via{n}")}),
                )
                .await);
            id_ok(
                &s.post(
                    &format!("/v1/orgs/acme/marketplaces/{other}/plugins"),
                    t,
                    json!({"pluginId": plugin}),
                )
                .await,
            );
            id_ok(
                &s.post(
                    &format!("/v1/orgs/acme/marketplaces/{other}/access"),
                    t,
                    json!({"orgMembershipId": p.x_membership, "role": "viewer"}),
                )
                .await,
            );
            if matches!(caller, Caller::ViaArchivedMarketplace) {
                id_ok(
                    &s.post(
                        &format!("/v1/orgs/acme/marketplaces/{other}/archive"),
                        t,
                        json!({}),
                    )
                    .await,
                );
            }
        }
    }
    // Restoring needs something archived first.
    if route.path.ends_with("/restore") {
        let target = route.path.trim_end_matches("/restore");
        let archive = format!("{target}/archive");
        let filled = Fixture {
            values: values.clone(),
        }
        .fill(&archive);
        id_ok(&s.post(&filled, t, json!({})).await);
    }
    Fixture { values }
}

fn id_ok(reply: &trove_testkit::Reply) {
    assert!(
        reply.status.is_success(),
        "fixture request failed: {} {:?}",
        reply.status,
        reply.body
    );
}

fn token_of(p: &People, caller: Caller) -> Option<&String> {
    match caller {
        Caller::Anonymous => None,
        Caller::OtherOrgAdmin => Some(&p.other_org_admin),
        Caller::Owner => Some(&p.owner),
        Caller::Admin => Some(&p.admin),
        Caller::Member => Some(&p.member),
        _ => Some(&p.x),
    }
}

/// Runs one case; returns a description of the failure, if it failed.
async fn check(
    s: &TestServer,
    p: &People,
    route: &Route,
    caller: Caller,
    n: usize,
) -> Option<String> {
    let fx = fixture(s, p, route, caller, n).await;
    let mut path = fx.fill(route.path);
    if route.path.ends_with("/versions/compare") {
        // The fixture object has one version: compare it with itself.
        path.push_str("?from=1&to=1");
    }
    let body = route
        .body
        .map(|b| serde_json::from_str::<Value>(&fx.fill(b)).expect("valid body template"));
    let method = Method::from_bytes(route.method.as_bytes()).unwrap();
    let reply = s
        .call(method, &path, token_of(p, caller).map(String::as_str), body)
        .await;
    let want = expect(route.policy, caller);
    let ok = match &want {
        Expect::Success => reply.status.is_success(),
        Expect::Status(code, error) => reply.status.as_u16() == *code && reply.error() == *error,
    };
    (!ok).then(|| {
        format!(
            "{} {} as {caller:?}: expected {want:?}, got {} {}",
            route.method, route.path, reply.status, reply.body
        )
    })
}

async fn every_route_enforces_its_policy(db: &TestDb) {
    let s = TestServer::start(db.store.clone()).await;
    let p = people(db, &s).await;

    // The table and the OpenAPI document list the same routes.
    let spec: Value = serde_json::from_str(&trove_server::openapi_json()).unwrap();
    let mut documented = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let table: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    let missing: Vec<_> = documented.difference(&table).collect();
    assert!(
        missing.is_empty(),
        "routes missing from the authorization table: {missing:?}"
    );
    let stale: Vec<_> = table.difference(&documented).collect();
    assert!(
        stale.is_empty(),
        "table rows that are not in the OpenAPI document: {stale:?}"
    );

    // Cases are independent (fresh resources each), so they run several at a time.
    let cases: Vec<(usize, &Route, Caller)> = ROUTES
        .iter()
        .flat_map(|route| CALLERS.into_iter().map(move |caller| (route, caller)))
        .enumerate()
        .map(|(n, (route, caller))| (n + 1, route, caller))
        .collect();
    let n = cases.len();
    let failures: Vec<String> = futures_util::stream::iter(cases)
        .map(|(n, route, caller)| {
            let (s, p) = (&s, &p);
            async move { check(s, p, route, caller, n).await }
        })
        .buffer_unordered(8)
        .filter_map(|outcome| async move { outcome })
        .collect()
        .await;
    assert!(
        failures.is_empty(),
        "{} of {n} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
