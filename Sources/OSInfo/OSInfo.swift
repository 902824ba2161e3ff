// Skeleton: the osinfo helper fills this module in.
public enum OSInfo {}
