output "launch_template_id" {
  description = "The analysis machines' launch template (settings.launchTemplate.id)."
  value       = aws_launch_template.analysis.id
}

output "launch_template_name" {
  description = "The launch template's name (settings.launchTemplate.name, instead of the id)."
  value       = aws_launch_template.analysis.name
}

output "security_group_id" {
  description = "The analysis machines' security group (already in the launch template)."
  value       = aws_security_group.analysis.id
}

output "daemon_role_arn" {
  description = "The daemon's IAM role (also usable for EKS IRSA once its trust policy allows it)."
  value       = aws_iam_role.daemon.arn
}

output "daemon_instance_profile_name" {
  description = "Give this instance profile to the EC2 instance that runs the sandfleet daemon."
  value       = aws_iam_instance_profile.daemon.name
}

output "pool_settings" {
  description = "Paste under a pool's `settings:` in sandfleet.yaml (provider: aws, recycle: delete)."
  value = yamlencode({
    region         = var.region
    launchTemplate = { id = aws_launch_template.analysis.id, version = "$Default" }
    subnetIds      = var.subnet_ids
  })
}
