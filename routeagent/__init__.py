"""The lab route agent: routes to every other node's pod CIDR via that node's InternalIP."""
