// The audit log's immutable store: a storage account whose `audit` container has a time-based
// retention policy with protected append writes. The audit service (and only it) appends blocks to
// append blobs; nobody, including the audit identity and account owners, can modify or delete a
// written block until the retention period ends. Lock the policy once the retention period is
// settled (the `lockCommand` output; locking is an action, not a property ARM can declare): a
// locked policy can only be extended. Docs: docs/audit.md ("Azure: immutable append blobs").
targetScope = 'resourceGroup'

param location string = resourceGroup().location
@minLength(3)
@maxLength(10)
param prefix string = 'warden'
@description('principal id of the audit service identity: Storage Blob Data Contributor on the container only')
param auditPrincipalId string
@description('retention in days; SOC 2 evidence is usually kept 1 year, many regulators ask for 7 (2555)')
@minValue(1)
@maxValue(146000)
param retentionDays int = 2555
param containerName string = 'audit'

var accountName = take('st${prefix}audit${uniqueString(resourceGroup().id)}', 24)

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: accountName
  location: location
  kind: 'StorageV2'
  sku: {
    name: 'Standard_ZRS'
  }
  properties: {
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false // Entra ID only: no account key can bypass the identity's scope
    defaultToOAuthAuthentication: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    // Soft delete keeps an accidentally deleted *container* recoverable; blobs are covered by WORM.
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 30
    }
    isVersioningEnabled: false // append blobs are immutable through the policy, not through versions
  }
}

resource container 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: containerName
  properties: {
    publicAccess: 'None'
  }
}

resource retention 'Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies@2023-05-01' = {
  parent: container
  name: 'default'
  properties: {
    immutabilityPeriodSinceCreationInDays: retentionDays
    allowProtectedAppendWrites: true // append blocks to append blobs; never modify or delete them
  }
}

// Irreversible, so not done by the deployment: run it after review (or call
// warden_audit.adapters.azure_immutability.apply_retention(..., lock=True)).
output lockCommand string = 'az storage container immutability-policy lock --account-name ${account.name} -c ${containerName} --if-match "${retention.etag}"'

var blobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource auditWrites 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(container.id, auditPrincipalId, blobDataContributor)
  scope: container
  properties: {
    principalId: auditPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributor)
  }
}

output accountName string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output containerName string = container.name
output retentionDays int = retentionDays
