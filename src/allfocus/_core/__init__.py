"""Private helpers shared by every part of allfocus."""
