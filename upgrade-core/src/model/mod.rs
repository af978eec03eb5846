//! The model: names, versions, steps and the manifest, with the typed errors
//! of reading them. Nothing here touches the disk, git or a database.

pub mod batch;
pub mod checksum;
pub mod component;
pub mod component_settings;
pub mod install_snapshot;
pub mod line_index;
pub mod manifest;
pub(crate) mod op_count;
pub mod plugin_types;
pub mod pre_lint;
pub mod release_name;
pub mod sql_text;
pub mod step;
pub mod step_file;
pub mod step_lists;
pub mod step_name;
pub mod step_text;
pub mod text_order;
pub(crate) mod toml_doc;
pub mod tree_error;
pub mod version;
