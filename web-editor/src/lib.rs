#![doc = include_str!("../README.md")]

pub mod api;
pub mod app;
pub mod audit;
pub mod catalog;
pub mod data;
pub mod editor;
pub mod explain;
pub mod fields;
pub mod list;
pub mod live;
pub mod model;
pub mod panels;
pub mod perf;
pub mod preview;
pub mod review;
pub mod storage;
pub mod tests_panel;

pub use app::App;
