pub mod vsock;
