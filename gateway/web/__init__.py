"""gateway/web"""
