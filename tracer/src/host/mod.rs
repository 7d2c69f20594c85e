//! Everything read from the host's /proc: the start-up walk of every
//! process, namespaces (nsfs inodes, `NS_GET_ID`), cgroups, the nsfs bind
//! mounts that pin a namespace, and facts about the system. The one place
//! that reads /proc; parsers are pure functions tested on text. [`root`]
//! says where the node's /proc is when the tracer runs in a container.
//! And what runtimes say about their pods: OCI bundles' labels, CRI, the
//! Docker API.

pub mod bundle;
pub mod cgroup;
pub mod cgroup_id;
pub mod cri;
pub mod docker;
pub mod file;
pub mod mountinfo;
pub mod ns;
pub mod nsfs;
pub mod pins;
pub mod proc;
pub mod root;
pub mod statmount;
pub mod system;
pub mod visitor;
