//! Discovery: classify a repository snapshot into marketplaces, plugins and components.
