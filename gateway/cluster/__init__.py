"""gateway/cluster"""
