"""The notifier: alerts reach the people in each patient's care circle, once, until answered."""
