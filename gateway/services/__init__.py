"""gateway/services"""
